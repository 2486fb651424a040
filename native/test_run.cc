#include "test_run.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

namespace ekp {

namespace {

struct RunInput {
  int prog_fd = -1;
  std::vector<uint8_t> data_in;
  std::vector<uint8_t> ctx_in;
  uint32_t data_out_size = 0;
  uint32_t ctx_out_size = 0;
  uint32_t repeat = 1;
  uint32_t flags = 0;
};

struct RunOutput {
  int err = 0;
  uint32_t retval = 0;
  uint32_t duration_ns = 0;
  std::vector<uint8_t> data_out;
  std::vector<uint8_t> ctx_out;
};

// testRun(progFd, data, dataOutSize, repeat, ctx | null, ctxOutSize, flags)
RunInput ReadInput(const Napi::CallbackInfo& info) {
  RunInput in;
  in.prog_fd = ArgInt(info, 0, "progFd");
  auto data = ArgBuffer(info, 1, "data");
  in.data_in.assign(data.Data(), data.Data() + data.Length());
  in.data_out_size = ArgU32(info, 2, "dataOutSize");
  in.repeat = ArgU32(info, 3, "repeat");
  if (info.Length() > 4 && info[4].IsBuffer()) {
    auto ctx = info[4].As<Napi::Buffer<uint8_t>>();
    in.ctx_in.assign(ctx.Data(), ctx.Data() + ctx.Length());
  }
  in.ctx_out_size = info.Length() > 5 ? ArgU32(info, 5, "ctxOutSize") : 0;
  in.flags = info.Length() > 6 ? ArgU32(info, 6, "flags") : 0;
  return in;
}

RunOutput Run(const RunInput& in) {
  RunOutput out;
  out.data_out.resize(in.data_out_size);
  out.ctx_out.resize(in.ctx_out_size);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = in.data_in.empty() ? nullptr : in.data_in.data();
  opts.data_size_in = in.data_in.size();
  opts.data_out = out.data_out.empty() ? nullptr : out.data_out.data();
  opts.data_size_out = out.data_out.size();
  opts.ctx_in = in.ctx_in.empty() ? nullptr : in.ctx_in.data();
  opts.ctx_size_in = in.ctx_in.size();
  opts.ctx_out = out.ctx_out.empty() ? nullptr : out.ctx_out.data();
  opts.ctx_size_out = out.ctx_out.size();
  opts.repeat = in.repeat;
  opts.flags = in.flags;
  if (bpf_prog_test_run_opts(in.prog_fd, &opts) != 0) {
    out.err = errno;
    return out;
  }
  out.retval = opts.retval;
  out.duration_ns = opts.duration;
  out.data_out.resize(opts.data_size_out);
  out.ctx_out.resize(opts.ctx_size_out);
  return out;
}

Napi::Object ToJs(Napi::Env env, const RunOutput& out) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("retval", out.retval);
  o.Set("durationNs", out.duration_ns);
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, out.data_out.data(), out.data_out.size()));
  o.Set("ctx", Napi::Buffer<uint8_t>::Copy(env, out.ctx_out.data(), out.ctx_out.size()));
  return o;
}

Napi::Value TestRun(const Napi::CallbackInfo& info) {
  RunInput in = ReadInput(info);
  RunOutput out = Run(in);
  if (out.err) ThrowErrno(info.Env(), out.err, "bpf_prog_test_run_opts", "program fd " + std::to_string(in.prog_fd));
  return ToJs(info.Env(), out);
}

class TestRunWorker : public Napi::AsyncWorker {
 public:
  TestRunWorker(Napi::Env env, RunInput in)
      : Napi::AsyncWorker(env), in_(std::move(in)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { out_ = Run(in_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!out_.err) {
      deferred_.Resolve(ToJs(env, out_));
      return;
    }
    try {
      // libbpf logged nothing about a raw test run: a log on this thread now is another call's.
      ClearLibbpfLog();
      ThrowErrno(env, out_.err, "bpf_prog_test_run_opts", "program fd " + std::to_string(in_.prog_fd));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  RunInput in_;
  RunOutput out_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value TestRunAsync(const Napi::CallbackInfo& info) {
  auto* worker = new TestRunWorker(info.Env(), ReadInput(info));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void RegisterTestRunFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("testRun", Napi::Function::New(env, TestRun));
  exports.Set("testRunAsync", Napi::Function::New(env, TestRunAsync));
}

}  // namespace ekp
