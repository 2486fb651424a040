#include "nfacct.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_acct.h>
#include <linux/netlink.h>
#include <endian.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "errors.h"
#include "nl_socket.h"

namespace ekp {

namespace {

// One request to the accounting subsystem, in the calling thread's network namespace; calls fn
// for each answer that is not an error, and returns 0 or the errno the kernel answered with.
template <typename Fn>
int Request(Napi::Env env, uint16_t msgType, uint16_t flags, const std::string& name, Fn fn) {
  if (name.empty() || name.size() >= NFACCT_NAME_MAX) {
    Napi::TypeError::New(env, "nfacct name must be 1-31 characters").ThrowAsJavaScriptException();
    return EINVAL;
  }
  struct {
    nlmsghdr nh;
    nfgenmsg nfg;
    char attrs[64];
  } req = {};
  auto* attr = reinterpret_cast<nlattr*>(req.attrs);
  attr->nla_type = NFACCT_NAME;
  attr->nla_len = static_cast<uint16_t>(NLA_HDRLEN + name.size() + 1);
  std::memcpy(reinterpret_cast<char*>(attr) + NLA_HDRLEN, name.c_str(), name.size() + 1);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(nfgenmsg) + NLA_ALIGN(attr->nla_len));
  req.nh.nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_ACCT << 8) | msgType);
  // The acknowledgement ends every answer, for a request that gets nothing else too.
  req.nh.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  req.nh.nlmsg_seq = 1;
  req.nfg.nfgen_family = AF_UNSPEC;
  req.nfg.version = NFNETLINK_V0;
  NetlinkSocket sock(env, NETLINK_NETFILTER, "nfnetlink");
  sock.Send(&req.nh);
  return sock.Receive(fn);
}

// nfacctEnsure(name): creates the counter unless it exists; an existing one keeps its count.
Napi::Value NfacctEnsure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int err = Request(env, NFNL_MSG_ACCT_NEW, NLM_F_CREATE, name, [](nlmsghdr*) {});
  if (env.IsExceptionPending()) return env.Undefined();
  // EBUSY: there is one of that name already (only NLM_F_REPLACE would reset it).
  if (err != 0 && err != EBUSY) ThrowErrno(env, err, "NFNL_MSG_ACCT_NEW", name);
  return env.Undefined();
}

// nfacctPackets(name) -> the packets counted so far (a Number: exact to 2^53).
Napi::Value NfacctPackets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  uint64_t packets = 0;
  bool found = false;
  int err = Request(env, NFNL_MSG_ACCT_GET, 0, name, [&](nlmsghdr* nh) {
    if (nh->nlmsg_type != ((NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_NEW)) return;
    int len = static_cast<int>(nh->nlmsg_len) - NLMSG_LENGTH(sizeof(nfgenmsg));
    auto* a = reinterpret_cast<nlattr*>(static_cast<char*>(NLMSG_DATA(nh)) + NLMSG_ALIGN(sizeof(nfgenmsg)));
    while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len) {
      if ((a->nla_type & NLA_TYPE_MASK) == NFACCT_PKTS && a->nla_len >= NLA_HDRLEN + sizeof(uint64_t)) {
        uint64_t be;
        std::memcpy(&be, reinterpret_cast<char*>(a) + NLA_HDRLEN, sizeof(be));
        packets = be64toh(be);
        found = true;
      }
      len -= NLA_ALIGN(a->nla_len);
      a = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(a) + NLA_ALIGN(a->nla_len));
    }
  });
  if (env.IsExceptionPending()) return env.Undefined();
  if (err != 0) ThrowErrno(env, err, "NFNL_MSG_ACCT_GET", name);
  if (!found) ThrowErrno(env, ENOENT, "NFNL_MSG_ACCT_GET", name);
  return Napi::Number::New(env, static_cast<double>(packets));
}

}  // namespace

void RegisterNfacctFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("nfacctEnsure", Napi::Function::New(env, NfacctEnsure));
  exports.Set("nfacctPackets", Napi::Function::New(env, NfacctPackets));
}

}  // namespace ekp
