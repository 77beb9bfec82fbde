#ifndef WEFT_CSYSTEM_H
#define WEFT_CSYSTEM_H
/* Linux calls and constants that Swift's Glibc module does not show. */
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/statfs.h>
#include <sys/mount.h>

extern int setns(int fd, int nstype);

static const int weft_clone_newnet = 0x40000000;
static const unsigned int weft_nsfs_magic = 0x6e736673;
static const unsigned int weft_proc_super_magic = 0x9fa0;
static const unsigned int weft_tmpfs_magic = 0x01021994;
static const unsigned int weft_ramfs_magic = 0x858458f6;

/* statfs(2) under a name that does not collide with the struct's. */
static inline int weft_statfs_type(const char *path, unsigned long *type) {
    struct statfs fs;
    int rc = statfs(path, &fs);
    if (rc == 0) *type = (unsigned long)fs.f_type;
    return rc;
}

static inline int weft_fstatfs_type(int fd, unsigned long *type) {
    struct statfs fs;
    int rc = fstatfs(fd, &fs);
    if (rc == 0) *type = (unsigned long)fs.f_type;
    return rc;
}
#endif
