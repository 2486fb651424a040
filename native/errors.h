// Errors cross into JavaScript as ordinary Error objects carrying the errno name
// (`code`), the positive errno, the failing call (`syscall`) and, where known, the
// libbpf log lines that explain it (the verifier's complaint on a failed load).
#pragma once

#include <napi.h>
#include <string>

namespace ekp {

// Throws a JS Error: "<what>: <strerror> (<syscall>)". `err` may be given with
// either sign; libbpf returns -errno while the raw syscalls set errno.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& what);

// Throws a JS TypeError/RangeError for arguments that C++ cannot use. TypeScript
// validates first; this is the last guard against a crash.
[[noreturn]] void ThrowArg(Napi::Env env, const std::string& message);

// libbpf prints through a callback; we keep the last lines so a failed load can
// say why. Clear before an operation, take after a failure.
void InstallLibbpfLogger();
void ClearLibbpfLog();
std::string TakeLibbpfLog();

}  // namespace ekp
