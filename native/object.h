// A libbpf bpf_object: open, configure (read-only globals, map sizes, pin root),
// load, then hand out its maps' and programs' file descriptors. Closing the
// object closes those descriptors; pinned maps and attached programs live on.
#pragma once

#include <napi.h>

#include <string>
#include <utility>
#include <vector>

struct bpf_object;

namespace ekp {

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;

 private:
  Napi::Value SetRodata(const Napi::CallbackInfo& info);
  Napi::Value SetMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value SetAutoload(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value LoadAsync(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value CollectVerifierStats(const Napi::CallbackInfo& info);
  Napi::Value VerifierStats(const Napi::CallbackInfo& info);

  bpf_object* Live(Napi::Env env) const;

  friend class LoadWorker;

  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  // An asynchronous load owns the bpf_object until it ends: nothing else may touch it.
  bool loading_ = false;
  std::string path_;
  // One buffer per program for the verifier's statistics (log level 4), when asked for.
  std::vector<std::pair<std::string, std::vector<char>>> stats_;
};

}  // namespace ekp
