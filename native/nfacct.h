// Extended accounting objects (nfnetlink_acct): named packet and byte counters that iptables
// rules feed with `-m nfacct --nfacct-name NAME`. They live in a network namespace, outside any
// table, so a rewrite of the rules that feed one keeps its count (kube-proxy's iptables metrics).
#pragma once

#include <napi.h>

namespace ekp {
void RegisterNfacctFunctions(Napi::Env env, Napi::Object exports);
}
