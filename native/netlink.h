// The node's addresses and its route choices, asked of the kernel over rtnetlink: what
// getifaddrs (and so Node's os.networkInterfaces) leaves out or cannot say — addresses of
// interfaces without carrier, IPv6 address flags (temporary, deprecated, tentative), and
// which table a default route is in (/proc/net/ipv6_route shows every table, unmarked). And a
// watch on link and address changes, so that a device's new role is seen at once, not polled for.
#pragma once

#include <napi.h>

namespace ekp {
void RegisterNetlinkFunctions(Napi::Env env, Napi::Object exports);
}
