// Entering a network namespace on the calling thread. Network namespaces are
// per thread, so the JavaScript thread can step into a namespace, attach or
// query interfaces there, and step back, while libuv's pool threads stay put.
#pragma once

#include <napi.h>

namespace ekp {
void RegisterNetnsFunctions(Napi::Env env, Napi::Object exports);
}
