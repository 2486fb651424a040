// Attaching programs to hooks: XDP and tc clsact on interfaces (by ifindex, in
// the calling thread's network namespace) and cgroup hooks (by cgroup path,
// never implicitly the root). Netlink and prog-attach attachments outlive this
// process, which is what lets the datapath keep serving while we restart.
#pragma once

#include <napi.h>

namespace ekp {
void RegisterAttachFunctions(Napi::Env env, Napi::Object exports);
}
