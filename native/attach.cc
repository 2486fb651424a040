#include "attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "args.h"
#include "errors.h"

namespace ekp {

namespace {

std::string Ifname(int ifindex) {
  char name[IF_NAMESIZE] = {};
  if (if_indextoname(ifindex, name)) return std::string(name) + " (ifindex " + std::to_string(ifindex) + ")";
  return "ifindex " + std::to_string(ifindex);
}

// ifNameToIndex(name) -> ifindex, in this thread's network namespace
Napi::Value IfNameToIndex(const Napi::CallbackInfo& info) {
  std::string name = ArgString(info, 0, "name");
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) ThrowErrno(info.Env(), errno, "if_nametoindex", "interface " + name);
  return Napi::Number::New(info.Env(), idx);
}

// xdpAttach(ifindex, progFd, flags)
Napi::Value XdpAttach(const Napi::CallbackInfo& info) {
  int ifindex = ArgInt(info, 0, "ifindex");
  int prog_fd = ArgInt(info, 1, "progFd");
  uint32_t flags = ArgU32(info, 2, "flags");
  ClearLibbpfLog();
  int err = bpf_xdp_attach(ifindex, prog_fd, flags, nullptr);
  if (err) ThrowErrno(info.Env(), err, "bpf_xdp_attach", "XDP on " + Ifname(ifindex));
  return info.Env().Undefined();
}

// xdpDetach(ifindex, flags)
Napi::Value XdpDetach(const Napi::CallbackInfo& info) {
  int ifindex = ArgInt(info, 0, "ifindex");
  uint32_t flags = ArgU32(info, 1, "flags");
  int err = bpf_xdp_detach(ifindex, flags, nullptr);
  if (err) ThrowErrno(info.Env(), err, "bpf_xdp_detach", "XDP on " + Ifname(ifindex));
  return info.Env().Undefined();
}

// xdpQuery(ifindex) -> { mode, progId, driverProgId, genericProgId }
Napi::Value XdpQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = ArgInt(info, 0, "ifindex");
  LIBBPF_OPTS(bpf_xdp_query_opts, opts);
  int err = bpf_xdp_query(ifindex, 0, &opts);
  if (err) ThrowErrno(env, err, "bpf_xdp_query", "XDP on " + Ifname(ifindex));
  Napi::Object o = Napi::Object::New(env);
  o.Set("mode", opts.attach_mode);
  o.Set("progId", opts.prog_id);
  o.Set("driverProgId", opts.drv_prog_id);
  o.Set("genericProgId", opts.skb_prog_id);
  return o;
}

bpf_tc_attach_point Direction(const Napi::CallbackInfo& info, size_t i) {
  std::string dir = ArgString(info, i, "direction");
  if (dir == "ingress") return BPF_TC_INGRESS;
  if (dir == "egress") return BPF_TC_EGRESS;
  ThrowArg(info.Env(), "direction must be ingress or egress, got " + dir);
}

// tcAttach(ifindex, direction, progFd, priority, handle) -> { createdHook, handle, priority }
// createdHook tells the caller whether the clsact qdisc was ours, so that detach
// removes only what we created.
Napi::Value TcAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = ArgInt(info, 0, "ifindex");
  bpf_tc_attach_point dir = Direction(info, 1);
  int prog_fd = ArgInt(info, 2, "progFd");
  uint32_t priority = ArgU32(info, 3, "priority");
  uint32_t handle = ArgU32(info, 4, "handle");

  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = dir);
  ClearLibbpfLog();
  int err = bpf_tc_hook_create(&hook);
  bool created = err == 0;
  if (err && err != -EEXIST) ThrowErrno(env, err, "bpf_tc_hook_create", "clsact qdisc on " + Ifname(ifindex));

  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = handle, .priority = priority);
  err = bpf_tc_attach(&hook, &opts);
  if (err) ThrowErrno(env, err, "bpf_tc_attach", "tc " + std::string(dir == BPF_TC_INGRESS ? "ingress" : "egress") + " on " + Ifname(ifindex));
  Napi::Object o = Napi::Object::New(env);
  o.Set("createdHook", created);
  o.Set("handle", opts.handle);
  o.Set("priority", opts.priority);
  return o;
}

// tcDetach(ifindex, direction, priority, handle)
Napi::Value TcDetach(const Napi::CallbackInfo& info) {
  int ifindex = ArgInt(info, 0, "ifindex");
  bpf_tc_attach_point dir = Direction(info, 1);
  uint32_t priority = ArgU32(info, 2, "priority");
  uint32_t handle = ArgU32(info, 3, "handle");
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = dir);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
  int err = bpf_tc_detach(&hook, &opts);
  if (err) ThrowErrno(info.Env(), err, "bpf_tc_detach", "tc filter on " + Ifname(ifindex));
  return info.Env().Undefined();
}

// tcQuery(ifindex, direction, priority, handle) -> progId | 0
Napi::Value TcQuery(const Napi::CallbackInfo& info) {
  int ifindex = ArgInt(info, 0, "ifindex");
  bpf_tc_attach_point dir = Direction(info, 1);
  uint32_t priority = ArgU32(info, 2, "priority");
  uint32_t handle = ArgU32(info, 3, "handle");
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = dir);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return Napi::Number::New(info.Env(), 0);
  if (err) ThrowErrno(info.Env(), err, "bpf_tc_query", "tc filter on " + Ifname(ifindex));
  return Napi::Number::New(info.Env(), opts.prog_id);
}

// tcHookDestroy(ifindex): removes the clsact qdisc (both directions). Only for
// a hook that tcAttach reported as created by us.
Napi::Value TcHookDestroy(const Napi::CallbackInfo& info) {
  int ifindex = ArgInt(info, 0, "ifindex");
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_destroy(&hook);
  if (err && err != -ENOENT) ThrowErrno(info.Env(), err, "bpf_tc_hook_destroy", "clsact qdisc on " + Ifname(ifindex));
  return info.Env().Undefined();
}

int OpenCgroup(Napi::Env env, const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(env, errno, "open", "cgroup " + path);
  return fd;
}

// cgroupAttach(progFd, cgroupPath, attachType)
Napi::Value CgroupAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = ArgInt(info, 0, "progFd");
  std::string path = ArgString(info, 1, "cgroupPath");
  uint32_t type = ArgU32(info, 2, "attachType");
  int cg = OpenCgroup(env, path);
  int rc = bpf_prog_attach(prog_fd, cg, static_cast<bpf_attach_type>(type), BPF_F_ALLOW_MULTI);
  int err = errno;
  close(cg);
  if (rc) ThrowErrno(env, err, "bpf_prog_attach", "cgroup " + path);
  return env.Undefined();
}

// cgroupDetach(progFd, cgroupPath, attachType)
Napi::Value CgroupDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = ArgInt(info, 0, "progFd");
  std::string path = ArgString(info, 1, "cgroupPath");
  uint32_t type = ArgU32(info, 2, "attachType");
  int cg = OpenCgroup(env, path);
  int rc = bpf_prog_detach2(prog_fd, cg, static_cast<bpf_attach_type>(type));
  int err = errno;
  close(cg);
  if (rc) ThrowErrno(env, err, "bpf_prog_detach2", "cgroup " + path);
  return env.Undefined();
}

// cgroupDetachById(progId, cgroupPath, attachType): detaches a program we no
// longer hold a descriptor for (one a previous instance of the daemon attached).
Napi::Value CgroupDetachById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgU32(info, 0, "progId");
  std::string path = ArgString(info, 1, "cgroupPath");
  uint32_t type = ArgU32(info, 2, "attachType");
  int prog = bpf_prog_get_fd_by_id(id);
  if (prog < 0) ThrowErrno(env, errno, "bpf_prog_get_fd_by_id", "program id " + std::to_string(id));
  int cg = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) {
    int err = errno;
    close(prog);
    ThrowErrno(env, err, "open", "cgroup " + path);
  }
  int rc = bpf_prog_detach2(prog, cg, static_cast<bpf_attach_type>(type));
  int err = errno;
  close(cg);
  close(prog);
  if (rc) ThrowErrno(env, err, "bpf_prog_detach2", "program id " + std::to_string(id) + " on cgroup " + path);
  return env.Undefined();
}

// cgroupQuery(cgroupPath, attachType) -> [progId]
Napi::Value CgroupQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "cgroupPath");
  uint32_t type = ArgU32(info, 1, "attachType");
  int cg = OpenCgroup(env, path);
  __u32 ids[64];
  __u32 count = 64;
  __u32 attach_flags = 0;
  int rc = bpf_prog_query(cg, static_cast<bpf_attach_type>(type), 0, &attach_flags, ids, &count);
  int err = errno;
  close(cg);
  if (rc) ThrowErrno(env, err, "bpf_prog_query", "cgroup " + path);
  Napi::Array out = Napi::Array::New(env, count);
  for (__u32 i = 0; i < count; i++) out.Set(i, ids[i]);
  return out;
}

// progInfo(id) -> { id, name, type, tag, runTimeNs, runCount } (run stats count only while
// BPF_ENABLE_STATS is held: stats.cc; doubles are exact below 2^53 ns, ~104 days)
Napi::Value ProgInfoById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgU32(info, 0, "id");
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) ThrowErrno(env, errno, "bpf_prog_get_fd_by_id", "program id " + std::to_string(id));
  bpf_prog_info pi = {};
  __u32 len = sizeof(pi);
  int rc = bpf_obj_get_info_by_fd(fd, &pi, &len);
  int err = errno;
  if (rc) {
    close(fd);
    ThrowErrno(env, err, "bpf_obj_get_info_by_fd", "program id " + std::to_string(id));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", pi.id);
  o.Set("name", pi.name);
  o.Set("type", pi.type);
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
  o.Set("tag", tag);
  o.Set("runTimeNs", static_cast<double>(pi.run_time_ns));
  o.Set("runCount", static_cast<double>(pi.run_cnt));
  close(fd);
  return o;
}

// progId(fd) -> id
Napi::Value ProgIdByFd(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  bpf_prog_info pi = {};
  __u32 len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd, &pi, &len)) ThrowErrno(info.Env(), errno, "bpf_obj_get_info_by_fd", "program fd " + std::to_string(fd));
  return Napi::Number::New(info.Env(), pi.id);
}

}  // namespace

void RegisterAttachFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("ifNameToIndex", Napi::Function::New(env, IfNameToIndex));
  exports.Set("xdpAttach", Napi::Function::New(env, XdpAttach));
  exports.Set("xdpDetach", Napi::Function::New(env, XdpDetach));
  exports.Set("xdpQuery", Napi::Function::New(env, XdpQuery));
  exports.Set("tcAttach", Napi::Function::New(env, TcAttach));
  exports.Set("tcDetach", Napi::Function::New(env, TcDetach));
  exports.Set("tcQuery", Napi::Function::New(env, TcQuery));
  exports.Set("tcHookDestroy", Napi::Function::New(env, TcHookDestroy));
  exports.Set("cgroupAttach", Napi::Function::New(env, CgroupAttach));
  exports.Set("cgroupDetach", Napi::Function::New(env, CgroupDetach));
  exports.Set("cgroupQuery", Napi::Function::New(env, CgroupQuery));
  exports.Set("cgroupDetachById", Napi::Function::New(env, CgroupDetachById));
  exports.Set("progInfoById", Napi::Function::New(env, ProgInfoById));
  exports.Set("progIdByFd", Napi::Function::New(env, ProgIdByFd));
}

}  // namespace ekp
