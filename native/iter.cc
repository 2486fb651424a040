#include "iter.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "args.h"
#include "errors.h"

namespace ekp {

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// mapIterRead(progFd, mapFd, readBytes) -> Buffer: everything the program wrote
// over one pass, read `readBytes` at a time (each read() is one stretch of
// the pass in the kernel: the program decides how often it ends by writing).
Napi::Value MapIterRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = ArgInt(info, 0, "progFd");
  int map_fd = ArgInt(info, 1, "mapFd");
  uint32_t read_bytes = ArgU32(info, 2, "readBytes");
  if (read_bytes == 0 || read_bytes > (1u << 20)) ThrowArg(env, "readBytes must be 1..1048576");

  union bpf_iter_link_info linfo = {};
  linfo.map.map_fd = map_fd;
  LIBBPF_OPTS(bpf_link_create_opts, opts, .iter_info = &linfo, .iter_info_len = sizeof(linfo));
  Fd link(bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, &opts));
  if (link.get() < 0) ThrowErrno(env, errno, "bpf_link_create", "map iterator");
  Fd iter(bpf_iter_create(link.get()));
  if (iter.get() < 0) ThrowErrno(env, errno, "bpf_iter_create", "map iterator");

  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(read_bytes);
  for (;;) {
    ssize_t n = read(iter.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      ThrowErrno(env, errno, "read", "map iterator");
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

}  // namespace

void RegisterIterFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("mapIterRead", Napi::Function::New(env, MapIterRead));
}

}  // namespace ekp
