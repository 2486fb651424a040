#include "probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <cerrno>

#include "args.h"
#include "errors.h"

namespace ekp {

namespace {

// A probe answers { supported, errno }: libbpf returns 1 (yes), 0 (no) or
// -errno when it could not tell (no permission, no bpf() at all).
Napi::Object Answer(Napi::Env env, int rc) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("supported", rc == 1);
  o.Set("errno", rc < 0 ? -rc : 0);
  return o;
}

Napi::Value ProbeProgType(const Napi::CallbackInfo& info) {
  uint32_t type = ArgU32(info, 0, "progType");
  ClearLibbpfLog();
  return Answer(info.Env(), libbpf_probe_bpf_prog_type(static_cast<bpf_prog_type>(type), nullptr));
}

Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  uint32_t type = ArgU32(info, 0, "mapType");
  ClearLibbpfLog();
  return Answer(info.Env(), libbpf_probe_bpf_map_type(static_cast<bpf_map_type>(type), nullptr));
}

Napi::Value ProbeHelper(const Napi::CallbackInfo& info) {
  uint32_t prog_type = ArgU32(info, 0, "progType");
  uint32_t helper = ArgU32(info, 1, "helperId");
  ClearLibbpfLog();
  return Answer(info.Env(), libbpf_probe_bpf_helper(static_cast<bpf_prog_type>(prog_type), static_cast<bpf_func_id>(helper), nullptr));
}

// probeKernelBtf() -> { supported, errno }: the kernel's own BTF, which CO-RE
// and BTF-typed maps rely on.
Napi::Value ProbeKernelBtf(const Napi::CallbackInfo& info) {
  ClearLibbpfLog();
  btf* b = btf__load_vmlinux_btf();
  if (!b) return Answer(info.Env(), -errno);
  btf__free(b);
  return Answer(info.Env(), 1);
}

#define ENUM(obj, name) obj.Set(#name, static_cast<double>(name))

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  ENUM(c, BPF_PROG_TYPE_XDP);
  ENUM(c, BPF_PROG_TYPE_SCHED_CLS);
  ENUM(c, BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
  ENUM(c, BPF_PROG_TYPE_CGROUP_SOCK);
  ENUM(c, BPF_PROG_TYPE_SOCKET_FILTER);
  ENUM(c, BPF_MAP_TYPE_HASH);
  ENUM(c, BPF_MAP_TYPE_ARRAY);
  ENUM(c, BPF_MAP_TYPE_PERCPU_HASH);
  ENUM(c, BPF_MAP_TYPE_PERCPU_ARRAY);
  ENUM(c, BPF_MAP_TYPE_LRU_HASH);
  ENUM(c, BPF_MAP_TYPE_LRU_PERCPU_HASH);
  ENUM(c, BPF_MAP_TYPE_LPM_TRIE);
  ENUM(c, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  ENUM(c, BPF_MAP_TYPE_HASH_OF_MAPS);
  ENUM(c, BPF_CGROUP_INET4_CONNECT);
  ENUM(c, BPF_CGROUP_INET6_CONNECT);
  ENUM(c, BPF_CGROUP_UDP4_SENDMSG);
  ENUM(c, BPF_CGROUP_UDP6_SENDMSG);
  ENUM(c, BPF_CGROUP_UDP4_RECVMSG);
  ENUM(c, BPF_CGROUP_UDP6_RECVMSG);
  ENUM(c, BPF_CGROUP_INET4_GETPEERNAME);
  ENUM(c, BPF_CGROUP_INET6_GETPEERNAME);
  ENUM(c, BPF_ANY);
  ENUM(c, BPF_NOEXIST);
  ENUM(c, BPF_EXIST);
  ENUM(c, XDP_FLAGS_UPDATE_IF_NOEXIST);
  ENUM(c, XDP_FLAGS_SKB_MODE);
  ENUM(c, XDP_FLAGS_DRV_MODE);
  ENUM(c, XDP_ATTACHED_NONE);
  ENUM(c, XDP_ATTACHED_DRV);
  ENUM(c, XDP_ATTACHED_SKB);
  ENUM(c, BPF_FUNC_redirect_neigh);
  ENUM(c, BPF_FUNC_redirect_peer);
  ENUM(c, BPF_FUNC_get_netns_cookie);
  ENUM(c, BPF_FUNC_fib_lookup);
  ENUM(c, BPF_FUNC_for_each_map_elem);
  ENUM(c, BPF_FUNC_skb_store_bytes);
  return c;
}

}  // namespace

void RegisterProbeFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("probeProgType", Napi::Function::New(env, ProbeProgType));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  exports.Set("probeHelper", Napi::Function::New(env, ProbeHelper));
  exports.Set("probeKernelBtf", Napi::Function::New(env, ProbeKernelBtf));
  exports.Set("constants", Constants(env));
}

}  // namespace ekp
