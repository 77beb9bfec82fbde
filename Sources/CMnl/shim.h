#ifndef WEFT_CMNL_SHIM_H
#define WEFT_CMNL_SHIM_H
/* glibc first, then the kernel uapi headers: the other order redefines structs. */
#include <sys/types.h>
#include <sys/socket.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/fib_rules.h>
#include <linux/veth.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
/* Traffic control: qdiscs (tbf, ingress), the u32 classifier, the mirred action, statistics. */
#include <linux/pkt_sched.h>
#include <linux/pkt_cls.h>
#include <linux/gen_stats.h>
#include <linux/tc_act/tc_mirred.h>

static const int weft_nlmsg_error = NLMSG_ERROR;
static const int weft_nlmsg_done = NLMSG_DONE;
#endif
