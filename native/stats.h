#pragma once

#include <napi.h>

namespace ekp {

void RegisterStatsFunctions(Napi::Env env, Napi::Object exports);

}  // namespace ekp
