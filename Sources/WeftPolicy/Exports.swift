// The policy socket's messages live in their own dependency-free module (the fuzzer links it alone);
// everything that speaks policy sees them through WeftPolicy.
@_exported import WeftPolicyWire
