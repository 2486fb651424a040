#include "iter.h"

#include <bpf/bpf.h>
#include <fcntl.h>
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

struct IterFailure {
  int err = 0;
  const char* syscall = "";
};

// One pass: link the program to the map, open an iterator, read it to the end
// `read_bytes` at a time (each read() is one stretch of the pass in the kernel:
// the program decides how often it ends by writing). No JavaScript here: it
// runs on a worker thread.
IterFailure ReadPass(int prog_fd, int map_fd, uint32_t read_bytes, std::vector<uint8_t>& out) {
  union bpf_iter_link_info linfo = {};
  linfo.map.map_fd = map_fd;
  LIBBPF_OPTS(bpf_link_create_opts, opts, .iter_info = &linfo, .iter_info_len = sizeof(linfo));
  Fd link(bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, &opts));
  if (link.get() < 0) return {errno, "bpf_link_create"};
  Fd iter(bpf_iter_create(link.get()));
  if (iter.get() < 0) return {errno, "bpf_iter_create"};
  std::vector<uint8_t> buf(read_bytes);
  for (;;) {
    ssize_t n = read(iter.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return {errno, "read"};
    }
    if (n == 0) return {};
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
}

// A pass over a big map takes the kernel tens or hundreds of milliseconds: it
// runs in libuv's thread pool, so the daemon's thread goes on with watches,
// syncs and health checks. The worker holds its own duplicates of the two
// descriptors, so closing the program or map meanwhile cannot hand it a
// reused number.
class MapIterWorker : public Napi::AsyncWorker {
 public:
  MapIterWorker(Napi::Env env, int prog_fd, int map_fd, uint32_t read_bytes)
      : Napi::AsyncWorker(env),
        prog_(fcntl(prog_fd, F_DUPFD_CLOEXEC, 0)),
        map_(fcntl(map_fd, F_DUPFD_CLOEXEC, 0)),
        read_bytes_(read_bytes),
        deferred_(Napi::Promise::Deferred::New(env)) {
    if (prog_.get() < 0 || map_.get() < 0) failure_ = {errno, "fcntl"};
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (failure_.err == 0) failure_ = ReadPass(prog_.get(), map_.get(), read_bytes_, out_);
  }
  // Settles the promise whatever happens here (an allocation failing too):
  // an exception leaving OnOK would be uncaught and the pass never end.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (failure_.err == 0) {
        deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(env, out_.data(), out_.size()));
        return;
      }
      // libbpf logged nothing about a raw read or iterator: a log now is another call's.
      ClearLibbpfLog();
      ThrowErrno(env, failure_.err, failure_.syscall, "map iterator");
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Fd prog_;
  Fd map_;
  uint32_t read_bytes_;
  IterFailure failure_;
  std::vector<uint8_t> out_;
  Napi::Promise::Deferred deferred_;
};

// mapIterRead(progFd, mapFd, readBytes) -> Promise<Buffer>: everything the
// program wrote over one pass.
Napi::Value MapIterRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = ArgInt(info, 0, "progFd");
  int map_fd = ArgInt(info, 1, "mapFd");
  uint32_t read_bytes = ArgU32(info, 2, "readBytes");
  if (read_bytes == 0 || read_bytes > (1u << 20)) ThrowArg(env, "readBytes must be 1..1048576");
  auto* worker = new MapIterWorker(env, prog_fd, map_fd, read_bytes);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void RegisterIterFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("mapIterRead", Napi::Function::New(env, MapIterRead));
}

}  // namespace ekp
