// A netlink socket for one request and its answer, in the calling thread's network namespace:
// rtnetlink's dumps (netlink.cc) and nfnetlink_acct's requests (nfacct.cc) alike.
#pragma once

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <napi.h>

#include "errors.h"

namespace ekp {

class NetlinkSocket {
 public:
  // `what` names the subsystem in errors ("rtnetlink").
  NetlinkSocket(Napi::Env env, int protocol, const char* what) : env_(env), what_(what) {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd_ < 0) ThrowErrno(env, errno, "socket", what_);
  }
  ~NetlinkSocket() { close(fd_); }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  void Send(const nlmsghdr* msg) {
    sockaddr_nl kernel = {};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, msg, msg->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
      ThrowErrno(env_, errno, "sendto", what_);
    }
  }

  // Calls fn for each message of the answer until NLMSG_DONE (a dump's end) or NLMSG_ERROR (an
  // error, or the acknowledgement NLM_F_ACK asks for). Returns 0, or the errno an NLMSG_ERROR
  // carried.
  template <typename Fn>
  int Receive(Fn fn) {
    std::vector<char> buf(64 * 1024);
    for (;;) {
      ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        ThrowErrno(env_, errno, "recv", what_);
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
      }
    }
  }

  bool interrupted() const { return interrupted_; }

 private:
  Napi::Env env_;
  const char* what_;
  int fd_;
  bool interrupted_ = false;
};

}  // namespace ekp
