// Run-time statistics of loaded programs (BPF_ENABLE_STATS): how the lab
// benchmark reports ns per packet of the programs attached in a live lab. The
// kernel counts only while some process holds the fd enableRunTimeStats
// returns, so nothing stays switched on after the benchmark (unlike the global
// kernel.bpf_stats_enabled sysctl). progInfoById (attach.cc) reads the counts.
#include "stats.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "errors.h"

namespace ekp {
namespace {

// enableRunTimeStats() -> fd; counting stops when the fd is closed (closeFd).
Napi::Value EnableRunTimeStats(const Napi::CallbackInfo& info) {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) ThrowErrno(info.Env(), errno, "bpf_enable_stats", "BPF_STATS_RUN_TIME");
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace

void RegisterStatsFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("enableRunTimeStats", Napi::Function::New(env, EnableRunTimeStats));
}

}  // namespace ekp
