#include "map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "args.h"
#include "errors.h"

namespace ekp {

namespace {

constexpr int kENOTSUPP = 524;  // the kernel's "no batch op for this map type"

std::string FdName(int fd) { return "map fd " + std::to_string(fd); }

// mapLookup(fd, key, valueOut) -> bool
Napi::Value MapLookup(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  auto value = ArgBuffer(info, 2, "value");
  if (bpf_map_lookup_elem(fd, key.Data(), value.Data()) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), errno, "bpf_map_lookup_elem", FdName(fd));
}

// mapUpdate(fd, key, value, flags)
Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  auto value = ArgBuffer(info, 2, "value");
  uint32_t flags = ArgU32(info, 3, "flags");
  if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags) != 0)
    ThrowErrno(info.Env(), errno, "bpf_map_update_elem", FdName(fd));
  return info.Env().Undefined();
}

// mapDelete(fd, key) -> bool (false when the key was absent)
Napi::Value MapDelete(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  if (bpf_map_delete_elem(fd, key.Data()) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), errno, "bpf_map_delete_elem", FdName(fd));
}

// mapNextKey(fd, key | null, nextOut) -> bool (false at the end)
Napi::Value MapNextKey(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  uint8_t* key = ArgOptionalBuffer(info, 1, "key");
  auto next = ArgBuffer(info, 2, "next");
  if (bpf_map_get_next_key(fd, key, next.Data()) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), errno, "bpf_map_get_next_key", FdName(fd));
}

// mapUpdateBatch(fd, keys, values, count, keySize, valueSize, flags) -> count
// Map types without a batch op (LPM trie, for one) fall back to a loop here, so
// the caller still crosses N-API once.
Napi::Value MapUpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  auto keys = ArgBuffer(info, 1, "keys");
  auto values = ArgBuffer(info, 2, "values");
  uint32_t count = ArgU32(info, 3, "count");
  uint32_t key_size = ArgU32(info, 4, "keySize");
  uint32_t value_size = ArgU32(info, 5, "valueSize");
  uint32_t flags = ArgU32(info, 6, "flags");
  if (static_cast<uint64_t>(count) * key_size > keys.Length() || static_cast<uint64_t>(count) * value_size > values.Length())
    ThrowArg(env, "keys/values buffers are shorter than count entries");
  if (count == 0) return Napi::Number::New(env, 0);

  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
  __u32 done = count;
  if (bpf_map_update_batch(fd, keys.Data(), values.Data(), &done, &opts) == 0) return Napi::Number::New(env, done);
  int err = errno;
  if (err != kENOTSUPP && err != EOPNOTSUPP) {
    ThrowErrno(env, err, "bpf_map_update_batch", FdName(fd) + " after " + std::to_string(done) + " of " + std::to_string(count) + " entries");
  }
  for (uint32_t i = 0; i < count; i++) {
    if (bpf_map_update_elem(fd, keys.Data() + i * key_size, values.Data() + i * value_size, flags) != 0)
      ThrowErrno(env, errno, "bpf_map_update_elem", FdName(fd) + " after " + std::to_string(i) + " of " + std::to_string(count) + " entries");
  }
  return Napi::Number::New(env, count);
}

// mapDeleteBatch(fd, keys, count, keySize) -> number deleted. Absent keys are
// not an error: deleting what is already gone is the desired end state.
Napi::Value MapDeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  auto keys = ArgBuffer(info, 1, "keys");
  uint32_t count = ArgU32(info, 2, "count");
  uint32_t key_size = ArgU32(info, 3, "keySize");
  if (static_cast<uint64_t>(count) * key_size > keys.Length()) ThrowArg(env, "keys buffer is shorter than count entries");

  // The kernel's batch delete stops at the first absent key, so delete one by
  // one; it is still a single crossing from JavaScript.
  uint32_t deleted = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (bpf_map_delete_elem(fd, keys.Data() + i * key_size) == 0) {
      deleted++;
    } else if (errno != ENOENT) {
      ThrowErrno(env, errno, "bpf_map_delete_elem", FdName(fd) + " after " + std::to_string(i) + " of " + std::to_string(count) + " entries");
    }
  }
  return Napi::Number::New(env, deleted);
}

// mapLookupBatch(fd, inBatch | null, outBatch, keysOut, valuesOut, count)
//   -> { count, done, supported }
// `inBatch`/`outBatch` are opaque cursors of the map's key size (hash maps use
// a bucket index, but a key-sized buffer is always large enough).
Napi::Value MapLookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  uint8_t* in_batch = ArgOptionalBuffer(info, 1, "inBatch");
  auto out_batch = ArgBuffer(info, 2, "outBatch");
  auto keys = ArgBuffer(info, 3, "keys");
  auto values = ArgBuffer(info, 4, "values");
  __u32 count = ArgU32(info, 5, "count");
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  Napi::Object result = Napi::Object::New(env);
  int rc = bpf_map_lookup_batch(fd, in_batch, out_batch.Data(), keys.Data(), values.Data(), &count, &opts);
  int err = rc ? errno : 0;
  if (rc && err != ENOENT) {
    if (err == kENOTSUPP || err == EOPNOTSUPP) {
      result.Set("count", 0);
      result.Set("done", true);
      result.Set("supported", false);
      return result;
    }
    ThrowErrno(env, err, "bpf_map_lookup_batch", FdName(fd));
  }
  result.Set("count", count);
  result.Set("done", err == ENOENT);
  result.Set("supported", true);
  return result;
}

// mapInfo(fd) -> { id, name, type, keySize, valueSize, maxEntries, flags }
Napi::Value MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  bpf_map_info mi = {};
  __u32 len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len) != 0) ThrowErrno(env, errno, "bpf_obj_get_info_by_fd", FdName(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", mi.id);
  o.Set("name", mi.name);
  o.Set("type", mi.type);
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  o.Set("flags", mi.map_flags);
  return o;
}

// objGet(path) -> fd of a pinned map or program
Napi::Value ObjGet(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowErrno(info.Env(), errno, "bpf_obj_get", "pinned object " + path);
  return Napi::Number::New(info.Env(), fd);
}

// objPin(fd, path)
Napi::Value ObjPin(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  std::string path = ArgString(info, 1, "path");
  if (bpf_obj_pin(fd, path.c_str()) != 0) ThrowErrno(info.Env(), errno, "bpf_obj_pin", path);
  return info.Env().Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  if (fd >= 0) close(fd);
  return info.Env().Undefined();
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowErrno(info.Env(), n, "libbpf_num_possible_cpus", "/sys/devices/system/cpu/possible");
  return Napi::Number::New(info.Env(), n);
}

}  // namespace

void RegisterMapFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("mapLookup", Napi::Function::New(env, MapLookup));
  exports.Set("mapUpdate", Napi::Function::New(env, MapUpdate));
  exports.Set("mapDelete", Napi::Function::New(env, MapDelete));
  exports.Set("mapNextKey", Napi::Function::New(env, MapNextKey));
  exports.Set("mapUpdateBatch", Napi::Function::New(env, MapUpdateBatch));
  exports.Set("mapDeleteBatch", Napi::Function::New(env, MapDeleteBatch));
  exports.Set("mapLookupBatch", Napi::Function::New(env, MapLookupBatch));
  exports.Set("mapInfo", Napi::Function::New(env, MapInfo));
  exports.Set("objGet", Napi::Function::New(env, ObjGet));
  exports.Set("objPin", Napi::Function::New(env, ObjPin));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("possibleCpus", Napi::Function::New(env, PossibleCpus));
}

}  // namespace ekp
