// Argument readers. TypeScript (src/native) validates every argument before it
// reaches C++; these checks only turn a contract violation into a TypeError
// instead of undefined behaviour.
#pragma once

#include <napi.h>
#include <string>

#include "errors.h"

namespace ekp {

inline int ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowArg(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

inline uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowArg(info.Env(), std::string(name) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v < 0 || v > 4294967295.0) ThrowArg(info.Env(), std::string(name) + " must fit in 32 bits");
  return static_cast<uint32_t>(v);
}

inline std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) ThrowArg(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsBuffer()) ThrowArg(info.Env(), std::string(name) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

// A Buffer or null/undefined (for "first key" style arguments).
inline uint8_t* ArgOptionalBuffer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return ArgBuffer(info, i, name).Data();
}

}  // namespace ekp
