#include "object.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

namespace ekp {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Napi::Function BpfObject::Define(Napi::Env env) {
  return DefineClass(env, "BpfObject", {
      InstanceMethod("setRodata", &BpfObject::SetRodata),
      InstanceMethod("setMaxEntries", &BpfObject::SetMaxEntries),
      InstanceMethod("setAutoload", &BpfObject::SetAutoload),
      InstanceMethod("load", &BpfObject::Load),
      InstanceMethod("loadAsync", &BpfObject::LoadAsync),
      InstanceMethod("maps", &BpfObject::Maps),
      InstanceMethod("programs", &BpfObject::Programs),
      InstanceMethod("close", &BpfObject::Close),
      InstanceMethod("collectVerifierStats", &BpfObject::CollectVerifierStats),
      InstanceMethod("verifierStats", &BpfObject::VerifierStats),
  });
}

// new BpfObject(path, pinRoot | null)
BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  path_ = ArgString(info, 0, "path");
  std::string pin_root;
  if (info.Length() > 1 && info[1].IsString()) pin_root = info[1].As<Napi::String>().Utf8Value();

  LIBBPF_OPTS(bpf_object_open_opts, opts);
  if (!pin_root.empty()) opts.pin_root_path = pin_root.c_str();
  ClearLibbpfLog();
  obj_ = bpf_object__open_file(path_.c_str(), &opts);
  if (!obj_) ThrowErrno(env, errno, "bpf_object__open_file", "cannot open BPF object " + path_);
}

BpfObject::~BpfObject() {
  if (obj_) bpf_object__close(obj_);
}

bpf_object* BpfObject::Live(Napi::Env env) const {
  if (loading_) ThrowErrno(env, EBUSY, "bpf_object", "BPF object " + path_ + " is being loaded");
  if (!obj_) ThrowErrno(env, EBADF, "bpf_object", "BPF object " + path_ + " is closed");
  return obj_;
}

// setRodata(name, Buffer): sets a `const volatile` global before load. The
// variable's offset and size come from the object's BTF, so a size mismatch
// between C and TypeScript is an error, not a silent partial write.
Napi::Value BpfObject::SetRodata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Live(env);
  std::string name = ArgString(info, 0, "name");
  Napi::Buffer<uint8_t> value = ArgBuffer(info, 1, "value");
  if (loaded_) ThrowErrno(env, EBUSY, "bpf_map__initial_value", "cannot set " + name + " after load");

  bpf_map* rodata = nullptr;
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__is_internal(map) && EndsWith(bpf_map__name(map), ".rodata")) rodata = map;
  }
  const btf* btf = bpf_object__btf(obj);
  if (!rodata || !btf) ThrowErrno(env, ENOENT, "bpf_object__btf", path_ + " has no .rodata section with BTF (no const volatile globals)");

  int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  if (sec_id < 0) ThrowErrno(env, ENOENT, "btf__find_by_name_kind", path_ + " has no .rodata BTF");
  const btf_type* sec = btf__type_by_id(btf, sec_id);
  const btf_var_secinfo* vsi = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); i++, vsi++) {
    const btf_type* var = btf__type_by_id(btf, vsi->type);
    if (name != btf__name_by_offset(btf, var->name_off)) continue;
    if (vsi->size != value.Length()) {
      ThrowArg(env, "rodata " + name + " in " + path_ + " is " + std::to_string(vsi->size) +
                        " bytes, got " + std::to_string(value.Length()));
    }
    // libbpf 1.1 hands out the initial image read-only; copy, patch, set back.
    size_t size = 0;
    auto* current = static_cast<const uint8_t*>(bpf_map__initial_value(rodata, &size));
    if (!current || vsi->offset + vsi->size > size) ThrowErrno(env, EFAULT, "bpf_map__initial_value", "rodata of " + path_);
    std::vector<uint8_t> image(current, current + size);
    memcpy(image.data() + vsi->offset, value.Data(), vsi->size);
    int err = bpf_map__set_initial_value(rodata, image.data(), image.size());
    if (err) ThrowErrno(env, err, "bpf_map__set_initial_value", "rodata of " + path_);
    return env.Undefined();
  }
  ThrowErrno(env, ENOENT, "btf_var_secinfos", "no const volatile global named " + name + " in " + path_);
}

// setMaxEntries(mapName, n)
Napi::Value BpfObject::SetMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Live(env);
  std::string name = ArgString(info, 0, "map");
  uint32_t n = ArgU32(info, 1, "maxEntries");
  bpf_map* map = bpf_object__find_map_by_name(obj, name.c_str());
  if (!map) ThrowErrno(env, ENOENT, "bpf_object__find_map_by_name", "no map named " + name + " in " + path_);
  int err = bpf_map__set_max_entries(map, n);
  if (err) ThrowErrno(env, err, "bpf_map__set_max_entries", "map " + name);
  return env.Undefined();
}

// setAutoload(progName, bool): lets the caller skip programs the kernel lacks.
Napi::Value BpfObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Live(env);
  std::string name = ArgString(info, 0, "program");
  bool on = info.Length() > 1 && info[1].ToBoolean().Value();
  bpf_program* prog = bpf_object__find_program_by_name(obj, name.c_str());
  if (!prog) ThrowErrno(env, ENOENT, "bpf_object__find_program_by_name", "no program named " + name + " in " + path_);
  int err = bpf_program__set_autoload(prog, on);
  if (err) ThrowErrno(env, err, "bpf_program__set_autoload", "program " + name);
  return env.Undefined();
}

Napi::Value BpfObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Live(env);
  ClearLibbpfLog();
  int err = bpf_object__load(obj);
  if (err) ThrowErrno(env, err, "bpf_object__load", "cannot load BPF object " + path_);
  loaded_ = true;
  return env.Undefined();
}

// bpf_object__load on the thread pool: the verifier takes ~0.5 s for each of
// tc_lb's roles, and several objects that share already pinned maps can load
// side by side. The JS object is held until the load ends.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, BpfObject* self, Napi::Object js)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), self_(self), obj_(self->obj_), path_(self->path_) {
    js_ = Napi::Persistent(js);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    ClearLibbpfLog();
    err_ = bpf_object__load(obj_);
    if (err_) log_ = TakeLibbpfLog();
  }

  void OnOK() override { Settle(); }
  void OnError(const Napi::Error&) override { Settle(); }

 private:
  // Settles the promise whatever happens here (an allocation failing too): an
  // exception leaving OnOK would be uncaught, and the object stay "being loaded".
  void Settle() {
    Napi::Env env = Env();
    self_->loading_ = false;
    try {
      if (err_) {
        deferred_.Reject(ErrnoError(env, err_, "bpf_object__load", "cannot load BPF object " + path_, log_).Value());
      } else {
        self_->loaded_ = true;
        deferred_.Resolve(env.Undefined());
      }
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
    js_.Reset();
  }

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference js_;
  BpfObject* self_;
  bpf_object* obj_;
  std::string path_;
  int err_ = 0;
  std::string log_;
};

Napi::Value BpfObject::LoadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env);
  if (loaded_) ThrowErrno(env, EBUSY, "bpf_object__load", "BPF object " + path_ + " is already loaded");
  auto* worker = new LoadWorker(env, this, info.This().As<Napi::Object>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  // Only the JS thread reads it, and Settle runs there after this returns.
  loading_ = true;
  return promise;
}

Napi::Value BpfObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Live(env);
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", bpf_map__name(map));
    m.Set("fd", bpf_map__fd(map));
    m.Set("type", static_cast<double>(bpf_map__type(map)));
    m.Set("keySize", bpf_map__key_size(map));
    m.Set("valueSize", bpf_map__value_size(map));
    m.Set("maxEntries", bpf_map__max_entries(map));
    m.Set("internal", bpf_map__is_internal(map));
    const char* pin = bpf_map__pin_path(map);
    m.Set("pinPath", pin ? Napi::Value(Napi::String::New(env, pin)) : env.Null());
    out.Set(i++, m);
  }
  return out;
}

Napi::Value BpfObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Live(env);
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", bpf_program__name(prog));
    p.Set("fd", bpf_program__fd(prog));
    p.Set("type", static_cast<double>(bpf_program__type(prog)));
    p.Set("expectedAttachType", static_cast<double>(bpf_program__expected_attach_type(prog)));
    p.Set("section", bpf_program__section_name(prog));
    out.Set(i++, p);
  }
  return out;
}

// collectVerifierStats(): before load, asks the verifier for its statistics
// of every program (log level 4 only: instructions processed, states, stack
// depth). A failed load then keeps the verifier's last complaint but not its
// trace of the instructions (libbpf asks for that only of a load at level 0),
// so the daemon does not ask.
Napi::Value BpfObject::CollectVerifierStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = Live(env);
  if (loaded_) ThrowErrno(env, EBUSY, "bpf_program__set_log_level", "BPF object " + path_ + " is already loaded");
  stats_.clear();
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) stats_.emplace_back(bpf_program__name(prog), std::vector<char>(2048, 0));
  size_t i = 0;
  bpf_object__for_each_program(prog, obj) {
    auto& buf = stats_[i++].second;
    int err = bpf_program__set_log_level(prog, 4);
    if (!err) err = bpf_program__set_log_buf(prog, buf.data(), buf.size());
    if (err) ThrowErrno(env, -err, "bpf_program__set_log_buf", "program " + std::string(bpf_program__name(prog)));
  }
  return env.Undefined();
}

// verifierStats(): { program name: the verifier's statistics text }, after a
// load that collectVerifierStats() prepared; programs not loaded are absent.
Napi::Value BpfObject::VerifierStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  for (const auto& [name, buf] : stats_) {
    std::string text(buf.data(), strnlen(buf.data(), buf.size()));
    if (!text.empty()) out.Set(name, text);
  }
  return out;
}

Napi::Value BpfObject::Close(const Napi::CallbackInfo& info) {
  if (loading_) ThrowErrno(info.Env(), EBUSY, "bpf_object__close", "BPF object " + path_ + " is being loaded");
  if (obj_) bpf_object__close(obj_);
  obj_ = nullptr;
  return info.Env().Undefined();
}

}  // namespace ekp
