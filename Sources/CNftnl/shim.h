#ifndef WEFT_CNFTNL_SHIM_H
#define WEFT_CNFTNL_SHIM_H
#include <sys/types.h>
#include <stdint.h>
#include <libnftnl/common.h>
#include <libnftnl/batch.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#endif
