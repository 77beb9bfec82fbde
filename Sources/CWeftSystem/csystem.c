/* What csystem.h declares beyond its inline functions: x_tables' getsockopt calls, whose kernel
 * headers stay in this file. */
#include "csystem.h"
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

const struct weft_xt_layout weft_xt_layout_ipv4 = {
    .entries_at = sizeof(struct ipt_get_entries),
    .entry_size = sizeof(struct ipt_entry),
    .target_offset_at = offsetof(struct ipt_entry, target_offset),
    .next_offset_at = offsetof(struct ipt_entry, next_offset),
    .target_size = sizeof(struct xt_entry_target),
    .target_name_at = offsetof(struct xt_entry_target, u.user.name),
    .target_name_max = XT_EXTENSION_MAXNAMELEN,
    .error_name_max = XT_FUNCTION_MAXNAMELEN,
};

const struct weft_xt_layout weft_xt_layout_ipv6 = {
    .entries_at = sizeof(struct ip6t_get_entries),
    .entry_size = sizeof(struct ip6t_entry),
    .target_offset_at = offsetof(struct ip6t_entry, target_offset),
    .next_offset_at = offsetof(struct ip6t_entry, next_offset),
    .target_size = sizeof(struct xt_entry_target),
    .target_name_at = offsetof(struct xt_entry_target, u.user.name),
    .target_name_max = XT_EXTENSION_MAXNAMELEN,
    .error_name_max = XT_FUNCTION_MAXNAMELEN,
};

int weft_xt_table_size(int fd, int ipv6, const char *table, unsigned int *size) {
    if (strlen(table) >= XT_TABLE_MAXNAMELEN) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int rc;
    if (ipv6) {
        struct ip6t_getinfo info;
        socklen_t length = sizeof info;
        memset(&info, 0, sizeof info);
        strncpy(info.name, table, sizeof info.name - 1);
        rc = getsockopt(fd, SOL_IPV6, IP6T_SO_GET_INFO, &info, &length);
        if (rc == 0) *size = info.size;
    } else {
        struct ipt_getinfo info;
        socklen_t length = sizeof info;
        memset(&info, 0, sizeof info);
        strncpy(info.name, table, sizeof info.name - 1);
        rc = getsockopt(fd, SOL_IP, IPT_SO_GET_INFO, &info, &length);
        if (rc == 0) *size = info.size;
    }
    return rc;
}

int weft_xt_table_entries(int fd, int ipv6, const char *table, unsigned char *buffer, unsigned int length) {
    size_t header = ipv6 ? sizeof(struct ip6t_get_entries) : sizeof(struct ipt_get_entries);
    if (strlen(table) >= XT_TABLE_MAXNAMELEN || length < header) {
        errno = EINVAL;
        return -1;
    }
    /* The request is the header (name, size) the reply's entries follow. */
    memset(buffer, 0, header);
    if (ipv6) {
        struct ip6t_get_entries *get = (struct ip6t_get_entries *)buffer;
        strncpy(get->name, table, sizeof get->name - 1);
        get->size = (unsigned int)(length - header);
    } else {
        struct ipt_get_entries *get = (struct ipt_get_entries *)buffer;
        strncpy(get->name, table, sizeof get->name - 1);
        get->size = (unsigned int)(length - header);
    }
    socklen_t size = length;
    return getsockopt(fd, ipv6 ? SOL_IPV6 : SOL_IP, ipv6 ? IP6T_SO_GET_ENTRIES : IPT_SO_GET_ENTRIES, buffer, &size);
}
