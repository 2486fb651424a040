// Run-time statistics of loaded programs (BPF_ENABLE_STATS): how the lab
// benchmark reports ns per packet of the programs attached in a live lab. The
// kernel counts only while some process holds the fd enableRunTimeStats
// returns, so nothing stays switched on after the benchmark (unlike the global
// kernel.bpf_stats_enabled sysctl).
#include "stats.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <string>

#include "args.h"
#include "errors.h"

namespace ekp {
namespace {

// enableRunTimeStats() -> fd; counting stops when the fd is closed (closeFd).
Napi::Value EnableRunTimeStats(const Napi::CallbackInfo& info) {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) ThrowErrno(info.Env(), errno, "bpf_enable_stats", "BPF_STATS_RUN_TIME");
  return Napi::Number::New(info.Env(), fd);
}

// progRunStats(id) -> { runTimeNs, runCount } (doubles: exact below 2^53 ns, ~104 days)
Napi::Value ProgRunStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgU32(info, 0, "id");
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) ThrowErrno(env, errno, "bpf_prog_get_fd_by_id", "program id " + std::to_string(id));
  bpf_prog_info pi = {};
  __u32 len = sizeof(pi);
  int rc = bpf_obj_get_info_by_fd(fd, &pi, &len);
  int err = errno;
  close(fd);
  if (rc) ThrowErrno(env, err, "bpf_obj_get_info_by_fd", "program id " + std::to_string(id));
  Napi::Object o = Napi::Object::New(env);
  o.Set("runTimeNs", static_cast<double>(pi.run_time_ns));
  o.Set("runCount", static_cast<double>(pi.run_cnt));
  return o;
}

}  // namespace

void RegisterStatsFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("enableRunTimeStats", Napi::Function::New(env, EnableRunTimeStats));
  exports.Set("progRunStats", Napi::Function::New(env, ProgRunStats));
}

}  // namespace ekp
