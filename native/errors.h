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

// The same Error, not thrown, with the libbpf log given: for work done off the
// JavaScript thread (an asynchronous load), whose log that thread took.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& what, const std::string& log);

// Throws a JS TypeError/RangeError for arguments that C++ cannot use. TypeScript
// validates first; this is the last guard against a crash.
[[noreturn]] void ThrowArg(Napi::Env env, const std::string& message);

// libbpf prints through a callback; we keep the last lines so a failed load can
// say why. Clear before an operation, take after a failure. One log per thread:
// loads on the thread pool run side by side.
void InstallLibbpfLogger();
void ClearLibbpfLog();
std::string TakeLibbpfLog();

}  // namespace ekp
