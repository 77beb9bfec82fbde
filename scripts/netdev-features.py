#!/usr/bin/env python3
"""A device's offload features by name, as `ethtool -k DEVICE` prints them ("tx-checksum-ip-generic: on",
" [fixed]" when the device cannot change it), read in the caller's network namespace through the ethtool
ioctl: ETHTOOL_GSSET_INFO and ETHTOOL_GSTRINGS for the names, ETHTOOL_GFEATURES for their state. The tests
observe the vxlan devices with it (these machines have no ethtool); it shares nothing with weftd, which
sets the offload with ETHTOOL_STXCSUM. Usage: netdev-features.py DEVICE [FEATURE...] (only those)."""
import array
import fcntl
import socket
import struct
import sys

SIOCETHTOOL = 0x8946
ETHTOOL_GSTRINGS = 0x1b
ETHTOOL_GSSET_INFO = 0x37
ETHTOOL_GFEATURES = 0x3a
ETH_SS_FEATURES = 4
ETH_GSTRING_LEN = 32
IFREQ_SIZE = 40                 # struct ifreq on 64-bit Linux: the name, then a union holding ifr_data


def _ethtool(sock, device, buffer):
    """One SIOCETHTOOL call: ifr_data points at `buffer`, which the kernel reads and fills."""
    address, _ = buffer.buffer_info()
    request = struct.pack("16sP", device.encode(), address)
    fcntl.ioctl(sock, SIOCETHTOOL, request + b"\0" * (IFREQ_SIZE - len(request)))


def features(device):
    """[(name, active, fixed)] in the kernel's order."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        info = array.array("B", struct.pack("=IIQI", ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_FEATURES, 0))
        _ethtool(sock, device, info)
        _, _, mask, count = struct.unpack("=IIQI", info.tobytes())
        if not mask & (1 << ETH_SS_FEATURES):
            raise OSError(f"{device}: the kernel names no features")
        strings = array.array("B", struct.pack("=III", ETHTOOL_GSTRINGS, ETH_SS_FEATURES, count)
                              + b"\0" * (count * ETH_GSTRING_LEN))
        _ethtool(sock, device, strings)
        raw = strings.tobytes()[12:]
        names = [raw[i * ETH_GSTRING_LEN:(i + 1) * ETH_GSTRING_LEN].split(b"\0")[0].decode() for i in range(count)]
        blocks = (count + 31) // 32
        state = array.array("B", struct.pack("=II", ETHTOOL_GFEATURES, blocks) + b"\0" * (blocks * 16))
        _ethtool(sock, device, state)
        words = struct.unpack(f"={blocks * 4}I", state.tobytes()[8:])
    result = []
    for bit, name in enumerate(names):
        if not name:
            continue
        available, _requested, active, never_changed = words[(bit // 32) * 4:(bit // 32) * 4 + 4]
        flag = 1 << (bit % 32)
        result.append((name, bool(active & flag), not available & flag or bool(never_changed & flag)))
    return result


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    wanted = set(argv[2:])
    try:
        listed = features(argv[1])
    except OSError as error:
        print(f"netdev-features: {argv[1]}: {error}", file=sys.stderr)
        return 1
    for name, active, fixed in listed:
        if not wanted or name in wanted:
            print(f"{name}: {'on' if active else 'off'}{' [fixed]' if fixed else ''}")
    missing = wanted - {name for name, _, _ in listed}
    if missing:
        print(f"netdev-features: {argv[1]} has no feature {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
