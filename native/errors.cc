#include "errors.h"

#include <bpf/libbpf.h>
#include <uv.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace ekp {

namespace {

// The verifier log can be long; its end holds the reason.
constexpr size_t kMaxLogBytes = 8192;
thread_local std::string g_log;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  // Whole: libbpf hands over the verifier's log as one string, whose end is what matters.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return n;
  std::string line(static_cast<size_t>(n), '\0');
  vsnprintf(line.data(), line.size() + 1, fmt, args);
  g_log.append(line);
  if (g_log.size() > kMaxLogBytes) g_log.erase(0, g_log.size() - kMaxLogBytes);
  return n;
}

const char* ErrnoName(int err) {
  // libbpf has a few errnos of its own (ENOTSUPP 524 is the kernel's internal one).
  if (err == 524) return "ENOTSUPP";
  if (err >= 4000 && err < 4100) return "ELIBBPF";
  return uv_err_name(-err);
}

}  // namespace

void InstallLibbpfLogger() { libbpf_set_print(LibbpfPrint); }
void ClearLibbpfLog() { g_log.clear(); }
std::string TakeLibbpfLog() {
  std::string out;
  out.swap(g_log);
  return out;
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& what, const std::string& log) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  char desc[256];
  libbpf_strerror(err, desc, sizeof(desc));
  std::string message = what + ": " + desc + " (" + ErrnoName(err) + " from " + syscall + ")";
  // The last lines of libbpf's log say why (the verifier's verdict, a pin
  // path on a filesystem that is not bpffs); the whole log is on `.log`.
  if (!log.empty()) {
    size_t start = log.size();
    for (int lines = 0; start > 0 && lines < 6;) {
      if (log[--start] == '\n' && start + 1 < log.size()) lines++;
    }
    message += "\n" + log.substr(start == 0 ? 0 : start + 1);
    while (!message.empty() && message.back() == '\n') message.pop_back();
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!log.empty()) e.Set("log", Napi::String::New(env, log));
  return e;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& what) {
  throw ErrnoError(env, err, syscall, what, TakeLibbpfLog());
}

void ThrowArg(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

}  // namespace ekp
