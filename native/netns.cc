#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "args.h"
#include "errors.h"

namespace ekp {

namespace {

// netnsEnter(path) -> fd of the namespace we left (pass it to netnsRestore)
Napi::Value NetnsEnter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  int prev = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (prev < 0) ThrowErrno(env, errno, "open", "/proc/thread-self/ns/net");
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(prev);
    ThrowErrno(env, err, "open", "network namespace " + path);
  }
  int rc = setns(target, CLONE_NEWNET);
  int err = errno;
  close(target);
  if (rc) {
    close(prev);
    ThrowErrno(env, err, "setns", "network namespace " + path);
  }
  return Napi::Number::New(env, prev);
}

// netnsRestore(fd): back to the namespace netnsEnter returned; closes fd.
Napi::Value NetnsRestore(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  int rc = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (rc) ThrowErrno(info.Env(), err, "setns", "restoring the previous network namespace");
  return info.Env().Undefined();
}

}  // namespace

void RegisterNetnsFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsEnter", Napi::Function::New(env, NetnsEnter));
  exports.Set("netnsRestore", Napi::Function::New(env, NetnsRestore));
}

}  // namespace ekp
