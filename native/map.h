// Map operations on file descriptors. Keys and values are packed Buffers laid out
// by the TypeScript codec; batch calls take n packed entries so that thousands of
// updates cross N-API once.
#pragma once

#include <napi.h>

namespace ekp {
void RegisterMapFunctions(Napi::Env env, Napi::Object exports);
}
