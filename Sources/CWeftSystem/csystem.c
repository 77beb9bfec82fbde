/* Header-only: see include/csystem.h. */
