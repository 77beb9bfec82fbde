#ifndef WEFT_CMNL_SHIM_H
#define WEFT_CMNL_SHIM_H
/* glibc first, then the kernel uapi headers: the other order redefines structs. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/veth.h>

/* Swift's Glibc module hides these; declare them with their glibc prototypes. */
extern int setns(int fd, int nstype);
extern int unshare(int flags);

static const int weft_clone_newnet = 0x40000000;
static const int weft_nlmsg_error = NLMSG_ERROR;
static const int weft_nlmsg_done = NLMSG_DONE;
static const unsigned int weft_nsfs_magic = 0x6e736673;
static const unsigned int weft_proc_super_magic = 0x9fa0;
#endif
