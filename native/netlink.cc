#include "netlink.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"

namespace ekp {

namespace {

// One rtnetlink socket per call, in the calling thread's network namespace.
class RtSocket {
 public:
  explicit RtSocket(Napi::Env env) : env_(env) {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) ThrowErrno(env, errno, "socket", "rtnetlink");
  }
  ~RtSocket() { close(fd_); }
  RtSocket(const RtSocket&) = delete;
  RtSocket& operator=(const RtSocket&) = delete;

  void Send(const nlmsghdr* msg) {
    sockaddr_nl kernel = {};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, msg, msg->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
      ThrowErrno(env_, errno, "sendto", "rtnetlink");
    }
  }

  // Calls fn for each message of the answer until NLMSG_DONE (a dump) or the first message
  // (a plain request). Returns 0, or the errno an NLMSG_ERROR carried.
  template <typename Fn>
  int Receive(bool dump, Fn fn) {
    std::vector<char> buf(64 * 1024);
    for (;;) {
      ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        ThrowErrno(env_, errno, "recv", "rtnetlink");
      }
      int len = static_cast<int>(n);
      for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
        // The table changed during the dump: what came may be inconsistent; the caller asks again.
        if (nh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
        if (nh->nlmsg_type == NLMSG_DONE) return 0;
        if (nh->nlmsg_type == NLMSG_ERROR) {
          if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EPROTO;
          auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(nh));
          return -e->error;
        }
        fn(nh);
        if (!dump) return 0;
      }
    }
  }

  bool interrupted() const { return interrupted_; }

 private:
  Napi::Env env_;
  int fd_;
  bool interrupted_ = false;
};

// A dump the kernel says was interrupted by a change is done again (a few times at most).
template <typename Dump>
Napi::Value Consistent(Dump dump) {
  for (int i = 0;; i++) {
    bool interrupted = false;
    Napi::Value v = dump(&interrupted);
    if (!interrupted || i == 4) return v;
  }
}

std::string AddrText(int family, const void* data) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, data, text, sizeof(text));
  return text;
}

// ifAddrs() -> [{ ifindex, ifname, family: 4|6, address, prefixLen, scope, flags }]
// Every address of every interface, up or not; flags are IFA_F_* (IFA_FLAGS when given).
Napi::Value IfAddrsOnce(Napi::Env env, bool* interrupted) {
  RtSocket sock(env);
  struct {
    nlmsghdr nh;
    ifaddrmsg ifa;
  } req = {};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  req.nh.nlmsg_type = RTM_GETADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.ifa.ifa_family = AF_UNSPEC;
  sock.Send(&req.nh);
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  int err = sock.Receive(true, [&](nlmsghdr* nh) {
    if (nh->nlmsg_type != RTM_NEWADDR || nh->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return;
    auto* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(nh));
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return;
    const void* local = nullptr;
    const void* address = nullptr;
    uint32_t flags = ifa->ifa_flags;
    int len = IFA_PAYLOAD(nh);
    for (auto* rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
      if (rta->rta_type == IFA_LOCAL && RTA_PAYLOAD(rta) >= (ifa->ifa_family == AF_INET ? 4u : 16u)) local = RTA_DATA(rta);
      else if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) >= (ifa->ifa_family == AF_INET ? 4u : 16u)) address = RTA_DATA(rta);
      else if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD(rta) >= sizeof(uint32_t)) std::memcpy(&flags, RTA_DATA(rta), sizeof(flags));
    }
    // IFA_LOCAL is this end's address; IFA_ADDRESS is the peer's on a point-to-point link.
    const void* mine = local ? local : address;
    if (!mine) return;
    char name[IF_NAMESIZE] = {};
    Napi::Object o = Napi::Object::New(env);
    o.Set("ifindex", ifa->ifa_index);
    o.Set("ifname", if_indextoname(ifa->ifa_index, name) ? name : "");
    o.Set("family", ifa->ifa_family == AF_INET ? 4 : 6);
    o.Set("address", AddrText(ifa->ifa_family, mine));
    o.Set("prefixLen", ifa->ifa_prefixlen);
    o.Set("scope", ifa->ifa_scope);
    o.Set("flags", flags);
    out.Set(i++, o);
  });
  if (err) ThrowErrno(env, err, "RTM_GETADDR", "address dump");
  *interrupted = sock.interrupted();
  return out;
}

Napi::Value IfAddrs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Consistent([&](bool* interrupted) { return IfAddrsOnce(env, interrupted); });
}

// defaultRoutes() -> [{ family: 4|6, table, priority, oif, prefsrc }]: every unicast route to
// 0.0.0.0/0 or ::/0, of every table (the caller picks main's); a multipath route gives its first
// next hop's device.
Napi::Value DefaultRoutesOnce(Napi::Env env, bool* interrupted) {
  RtSocket sock(env);
  struct {
    nlmsghdr nh;
    rtmsg rt;
  } req = {};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.nh.nlmsg_type = RTM_GETROUTE;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.rt.rtm_family = AF_UNSPEC;
  sock.Send(&req.nh);
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  int err = sock.Receive(true, [&](nlmsghdr* nh) {
    if (nh->nlmsg_type != RTM_NEWROUTE || nh->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return;
    auto* rt = static_cast<rtmsg*>(NLMSG_DATA(nh));
    if (rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST) return;
    if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return;
    size_t alen = rt->rtm_family == AF_INET ? 4 : 16;
    uint32_t table = rt->rtm_table, priority = 0, oif = 0;
    Napi::Value prefsrc = env.Null();
    int len = RTM_PAYLOAD(nh);
    for (auto* a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) >= 4) std::memcpy(&table, RTA_DATA(a), 4);
      else if (a->rta_type == RTA_PRIORITY && RTA_PAYLOAD(a) >= 4) std::memcpy(&priority, RTA_DATA(a), 4);
      else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= 4) std::memcpy(&oif, RTA_DATA(a), 4);
      else if (a->rta_type == RTA_PREFSRC && RTA_PAYLOAD(a) >= alen) prefsrc = Napi::String::New(env, AddrText(rt->rtm_family, RTA_DATA(a)));
      else if (a->rta_type == RTA_MULTIPATH && oif == 0 && RTA_PAYLOAD(a) >= sizeof(rtnexthop)) {
        oif = static_cast<uint32_t>(static_cast<rtnexthop*>(RTA_DATA(a))->rtnh_ifindex);
      }
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", rt->rtm_family == AF_INET ? 4 : 6);
    o.Set("table", table);
    o.Set("priority", priority);
    o.Set("oif", oif);
    o.Set("prefsrc", prefsrc);
    out.Set(i++, o);
  });
  if (err) ThrowErrno(env, err, "RTM_GETROUTE", "route dump");
  *interrupted = sock.interrupted();
  return out;
}

Napi::Value DefaultRoutes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Consistent([&](bool* interrupted) { return DefaultRoutesOnce(env, interrupted); });
}

}  // namespace

void RegisterNetlinkFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("ifAddrs", Napi::Function::New(env, IfAddrs));
  exports.Set("defaultRoutes", Napi::Function::New(env, DefaultRoutes));
}

}  // namespace ekp
