// The module file only registers exports; each concept lives in its own pair.
#include <napi.h>

#include "attach.h"
#include "errors.h"
#include "iter.h"
#include "map.h"
#include "netlink.h"
#include "netns.h"
#include "nfacct.h"
#include "object.h"
#include "probe.h"
#include "stats.h"
#include "test_run.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ekp::InstallLibbpfLogger();
  exports.Set("BpfObject", ekp::BpfObject::Define(env));
  ekp::RegisterMapFunctions(env, exports);
  ekp::RegisterAttachFunctions(env, exports);
  ekp::RegisterTestRunFunctions(env, exports);
  ekp::RegisterProbeFunctions(env, exports);
  ekp::RegisterNetnsFunctions(env, exports);
  ekp::RegisterNetlinkFunctions(env, exports);
  ekp::RegisterNfacctFunctions(env, exports);
  ekp::RegisterStatsFunctions(env, exports);
  ekp::RegisterIterFunctions(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(ekp_native, Init)
