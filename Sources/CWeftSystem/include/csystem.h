#ifndef WEFT_CSYSTEM_H
#define WEFT_CSYSTEM_H
/* Linux calls and constants that Swift's Glibc module does not show. */
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/statfs.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <string.h>
#include <net/if.h>
#include <linux/sockios.h>
#include <linux/ethtool.h>

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

static const unsigned int weft_ethtool_gtxcsum = ETHTOOL_GTXCSUM;
static const unsigned int weft_ethtool_stxcsum = ETHTOOL_STXCSUM;

/* One ethtool_value command (ETHTOOL_G…/ETHTOOL_S…) through SIOCETHTOOL on `fd`, for the device
 * `name` in the socket's network namespace: struct ifreq's union and ifr_data do not import into
 * Swift. `*data` is sent and, on success, holds the kernel's answer. Returns ioctl(2)'s result. */
static inline int weft_ethtool_value(int fd, const char *name, unsigned int cmd, unsigned int *data) {
    struct ethtool_value value;
    struct ifreq request;
    if (strlen(name) >= IFNAMSIZ) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    value.cmd = cmd;
    value.data = *data;
    request.ifr_data = (char *)&value;
    int rc = ioctl(fd, SIOCETHTOOL, &request);
    if (rc == 0) *data = value.data;
    return rc;
}
/* x_tables (iptables-legacy) tables through getsockopt on a raw socket: the kernel's structs
 * (linux/netfilter_ipv4/ip_tables.h, ip6_tables.h) stay in csystem.c, whose linux/ headers would
 * collide with glibc's here. What the Swift parser needs of their layout, in bytes: */
struct weft_xt_layout {
    unsigned int entries_at;       /* sizeof(struct ipt_get_entries): where the entries start in the reply */
    unsigned int entry_size;       /* sizeof(struct ipt_entry) */
    unsigned int target_offset_at; /* offsetof(struct ipt_entry, target_offset), a __u16 */
    unsigned int next_offset_at;   /* offsetof(struct ipt_entry, next_offset), a __u16 */
    unsigned int target_size;      /* sizeof(struct xt_entry_target): the target's data follows */
    unsigned int target_name_at;   /* offsetof(struct xt_entry_target, u.user.name) */
    unsigned int target_name_max;  /* XT_EXTENSION_MAXNAMELEN */
    unsigned int error_name_max;   /* XT_FUNCTION_MAXNAMELEN: xt_error_target's errorname, the chain's name */
};
extern const struct weft_xt_layout weft_xt_layout_ipv4;
extern const struct weft_xt_layout weft_xt_layout_ipv6;

/* IPT_SO_GET_INFO (IP6T_SO_GET_INFO when `ipv6`) for `table` on `fd`: the size of its entries.
 * Returns getsockopt(2)'s result. */
int weft_xt_table_size(int fd, int ipv6, const char *table, unsigned int *size);

/* IPT_SO_GET_ENTRIES (IP6T_…) for `table`: `buffer` holds `length` bytes, the layout's entries_at
 * and then the size GET_INFO gave (the kernel refuses any other length, and answers EAGAIN when the
 * table changed size since). Returns getsockopt(2)'s result. */
int weft_xt_table_entries(int fd, int ipv6, const char *table, unsigned char *buffer, unsigned int length);
#endif
