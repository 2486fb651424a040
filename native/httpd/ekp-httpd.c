// ekp-httpd: the pod server of the lab benchmark. A Node HTTP server tops out
// far below what the kernel's datapaths can carry, so a benchmark against it
// would measure the server, not the proxy. This one is a single-threaded epoll
// loop that answers every request with the pod's name, keeps connections alive
// unless the client asks for `Connection: close` (the new-connection test),
// and does nothing else.
//
//   ekp-httpd PORT NAME
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUF_SIZE 4096
#define MAX_FDS 65536

struct conn {
  size_t len;
  char buf[BUF_SIZE];
};

static struct conn *conns[MAX_FDS];
static char resp_keep[256], resp_close[256];
static int resp_keep_len, resp_close_len;

static void drop(int ep, int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  free(conns[fd]);
  conns[fd] = NULL;
}

// True when the request head (NUL-terminated) asks to close after the reply.
static int wants_close(const char *head) {
  for (const char *p = head; (p = strchr(p, '\n')) != NULL;) {
    p++;
    if (strncasecmp(p, "connection:", 11) == 0) {
      const char *v = p + 11;
      while (*v == ' ' || *v == '\t') v++;
      return strncasecmp(v, "close", 5) == 0;
    }
  }
  return 0;
}

// Answers every complete request in the buffer (pipelining); returns -1 when
// the connection should be closed.
static int serve(int fd, struct conn *c) {
  for (;;) {
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return c->len >= BUF_SIZE - 1 ? -1 : 0;
    *end = '\0';
    int close_after = wants_close(c->buf);
    const char *r = close_after ? resp_close : resp_keep;
    int rl = close_after ? resp_close_len : resp_keep_len;
    // Replies are tiny: a short write means a dead or hostile peer, not backpressure.
    if (send(fd, r, rl, MSG_NOSIGNAL) != rl) return -1;
    if (close_after) return -1;
    size_t used = (size_t)(end + 4 - c->buf);
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ekp-httpd PORT NAME\n");
    return 2;
  }
  int port = atoi(argv[1]);
  const char *name = argv[2];
  if (port <= 0 || port > 65535 || strlen(name) > 64) {
    fprintf(stderr, "ekp-httpd: bad port or name\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int body = (int)strlen(name) + 1;
  resp_keep_len = snprintf(resp_keep, sizeof resp_keep,
                           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s\n", body, name);
  resp_close_len = snprintf(resp_close, sizeof resp_close,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n",
                            body, name);

  int ls = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (ls < 0) {
    perror("ekp-httpd: socket");
    return 1;
  }
  int one = 1, zero = 0;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // one socket for both families
  struct sockaddr_in6 addr = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 4096) < 0) {
    perror("ekp-httpd: bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  // The lab waits for this line before it sends traffic.
  printf("ready %d\n", port);
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      perror("ekp-httpd: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == ls) {
        for (;;) {
          int cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
          if (cfd < 0) break;
          if (cfd >= MAX_FDS || !(conns[cfd] = calloc(1, sizeof(struct conn)))) {
            close(cfd);
            continue;
          }
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = cfd};
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
        }
        continue;
      }
      struct conn *c = conns[fd];
      if (!c) continue;
      ssize_t r = recv(fd, c->buf + c->len, BUF_SIZE - 1 - c->len, 0);
      if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        drop(ep, fd);
        continue;
      }
      c->len += (size_t)r;
      if (serve(fd, c) < 0) drop(ep, fd);
    }
  }
}
