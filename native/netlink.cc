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
#include "nl_socket.h"

namespace ekp {

namespace {

// Dumps `request` (RTM_GETADDR, RTM_GETROUTE) for both families and gathers what `parse` makes of
// each `answer` message whose header is a Header; an empty value skips it. A dump the kernel says
// a change interrupted is done again, a few times at most.
template <typename Header, typename Parse>
Napi::Value Dump(Napi::Env env, uint16_t request, uint16_t answer, const char* what, Parse parse) {
  for (int attempt = 0;; attempt++) {
    NetlinkSocket sock(env, NETLINK_ROUTE, "rtnetlink");
    struct {
      nlmsghdr nh;
      Header h;  // zeroed: family AF_UNSPEC, every field a wildcard
    } req = {};
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(Header));
    req.nh.nlmsg_type = request;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    sock.Send(&req.nh);
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    int err = sock.Receive([&](nlmsghdr* nh) {
      if (nh->nlmsg_type != answer || nh->nlmsg_len < NLMSG_LENGTH(sizeof(Header))) return;
      Napi::Value v = parse(nh, static_cast<Header*>(NLMSG_DATA(nh)));
      if (!v.IsEmpty()) out.Set(i++, v);
    });
    if (err) ThrowErrno(env, err, request == RTM_GETADDR ? "RTM_GETADDR" : "RTM_GETROUTE", what);
    if (!sock.interrupted() || attempt == 4) return out;
  }
}

std::string AddrText(int family, const void* data) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, data, text, sizeof(text));
  return text;
}

// ifAddrs() -> [{ ifindex, ifname, family: 4|6, address, prefixLen, scope, flags }]
// Every address of every interface, up or not; flags are IFA_F_* (IFA_FLAGS when given).
Napi::Value IfAddrs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Dump<ifaddrmsg>(env, RTM_GETADDR, RTM_NEWADDR, "address dump", [&](nlmsghdr* nh, ifaddrmsg* ifa) -> Napi::Value {
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return Napi::Value();
    const void* local = nullptr;
    const void* address = nullptr;
    uint32_t flags = ifa->ifa_flags;
    size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
    int len = IFA_PAYLOAD(nh);
    for (auto* rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
      if (rta->rta_type == IFA_LOCAL && RTA_PAYLOAD(rta) >= alen) local = RTA_DATA(rta);
      else if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) >= alen) address = RTA_DATA(rta);
      else if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD(rta) >= sizeof(uint32_t)) std::memcpy(&flags, RTA_DATA(rta), sizeof(flags));
    }
    // IFA_LOCAL is this end's address; IFA_ADDRESS is the peer's on a point-to-point link.
    const void* mine = local ? local : address;
    if (!mine) return Napi::Value();
    char name[IF_NAMESIZE] = {};
    Napi::Object o = Napi::Object::New(env);
    o.Set("ifindex", ifa->ifa_index);
    o.Set("ifname", if_indextoname(ifa->ifa_index, name) ? name : "");
    o.Set("family", ifa->ifa_family == AF_INET ? 4 : 6);
    o.Set("address", AddrText(ifa->ifa_family, mine));
    o.Set("prefixLen", ifa->ifa_prefixlen);
    o.Set("scope", ifa->ifa_scope);
    o.Set("flags", flags);
    return o;
  });
}

// defaultRoutes() -> [{ family: 4|6, table, priority, oif, prefsrc }]: every unicast route to
// 0.0.0.0/0 or ::/0, of every table (the caller picks main's); a multipath route gives its first
// next hop's device.
Napi::Value DefaultRoutes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Dump<rtmsg>(env, RTM_GETROUTE, RTM_NEWROUTE, "route dump", [&](nlmsghdr* nh, rtmsg* rt) -> Napi::Value {
    if (rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST) return Napi::Value();
    if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return Napi::Value();
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
    return o;
  });
}

// linkWatchOpen(links) -> fd: a non-blocking rtnetlink socket, in the calling thread's network
// namespace, subscribed to every address change, IPv4 and IPv6, and with `links` to every link
// change too (a new device, a new master, up or down).
Napi::Value LinkWatchOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool links = info[0].ToBoolean().Value();
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) ThrowErrno(env, errno, "socket", "rtnetlink link watch");
  sockaddr_nl groups = {};
  groups.nl_family = AF_NETLINK;
  groups.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | (links ? RTMGRP_LINK : 0);
  if (bind(fd, reinterpret_cast<sockaddr*>(&groups), sizeof(groups)) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "bind", "rtnetlink link watch");
  }
  return Napi::Number::New(env, fd);
}

// linkWatchDrain(fd) -> how many notifications came since the last call, read and discarded.
// Notifications lost to a full socket buffer (ENOBUFS) count as one: something changed.
Napi::Value LinkWatchDrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::vector<char> buf(64 * 1024);
  uint32_t count = 0;
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        count++;
        continue;
      }
      ThrowErrno(env, errno, "recv", "rtnetlink link watch");
    }
    // Any datagram is a change, even one too long for the buffer (cut, so no whole message).
    uint32_t messages = 0;
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) messages++;
    count += messages > 0 ? messages : 1;
  }
  return Napi::Number::New(env, count);
}

}  // namespace

void RegisterNetlinkFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("ifAddrs", Napi::Function::New(env, IfAddrs));
  exports.Set("defaultRoutes", Napi::Function::New(env, DefaultRoutes));
  exports.Set("linkWatchOpen", Napi::Function::New(env, LinkWatchOpen));
  exports.Set("linkWatchDrain", Napi::Function::New(env, LinkWatchDrain));
}

}  // namespace ekp
