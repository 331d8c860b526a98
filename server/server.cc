// Copyright (c) Quiver authors.

#include "server/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "quiver/store.h"
#include "server/log.h"
#include "server/router.h"
#include "server/routes.h"
#include "server/service.h"
#include "server/transport.h"

namespace quiver::server {
namespace {

Status ValidateOptions(const ServerOptions& options) {
  if (options.data_dir.empty()) return Status::InvalidArgument("data directory not set (--data)");
  if (options.port < 0 || options.port > 65535) {
    return Status::InvalidArgument(fmt::format("port {} is outside 0..65535", options.port));
  }
  if (options.threads < 0) return Status::InvalidArgument("threads must be >= 0");
  if (options.max_body_bytes == 0) return Status::InvalidArgument("max_body_bytes must be > 0");
  for (const auto& [name, seconds] :
       {std::pair{"read_timeout_s", options.read_timeout_s},
        std::pair{"write_timeout_s", options.write_timeout_s},
        std::pair{"header_timeout_s", options.header_timeout_s},
        std::pair{"keep_alive_timeout_s", options.keep_alive_timeout_s},
        std::pair{"keep_alive_max_requests", options.keep_alive_max_requests},
        std::pair{"request_timeout_s", options.request_timeout_s},
        std::pair{"max_connections", options.max_connections},
        std::pair{"max_connections_per_address", options.max_connections_per_address}}) {
    if (seconds <= 0) return Status::InvalidArgument(fmt::format("{} must be > 0", name));
  }
  for (const auto& [name, bytes] : {std::pair{"max_search_work", options.max_search_work},
                                    std::pair{"max_response_bytes", options.max_response_bytes},
                                    std::pair{"max_text_bytes", options.max_text_bytes},
                                    std::pair{"max_metadata_bytes", options.max_metadata_bytes}}) {
    if (bytes == 0) return Status::InvalidArgument(fmt::format("{} must be > 0", name));
  }
  return Status::Ok();
}

// Raises the soft open-files limit so that `max_connections` sockets fit
// beside the store's files; warns when the hard limit is lower.
void RaiseOpenFilesLimit(int max_connections, const Logger& logger) {
  constexpr rlim_t kReservedFiles = 256;  // store, index files, logs
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kReservedFiles;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted) {
    Log(logger, LogLevel::kWarn,
        "open-files limit {} is below --max-connections {} + {}: raise 'ulimit -n' or lower "
        "--max-connections",
        limit.rlim_cur, max_connections, kReservedFiles);
  }
}

int WorkerThreads(int requested) {
  if (requested > 0) return requested;
  return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* addresses = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &addresses) != 0) return false;
  bool loopback = addresses != nullptr;
  for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
    if (address->ai_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(address->ai_addr);
      loopback = loopback && (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (address->ai_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address->ai_addr);
      loopback = loopback && IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
      loopback = false;
    }
  }
  freeaddrinfo(addresses);
  return loopback;
}

// Owns, in order of construction: the service (shared state), the router (routes
// + policy), the transport (threads), the store. Destroyed in reverse.
struct Server::Impl {
  ServerOptions options;
  Logger logger;
  std::unique_ptr<Service> service;
  std::unique_ptr<Router> router;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<Store> store;
  std::mutex stop_mutex;
  bool stopped = false;  // guarded by stop_mutex
};

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  if (Status status = ValidateOptions(options); !status.ok()) return status;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->logger = options.logger ? options.logger : StderrLogger(LogLevel::kInfo);
  const Logger& logger = impl->logger;
  impl->service = std::make_unique<Service>(options, logger);
  if (!impl->service->swagger_ui().missing().empty()) {
    Log(logger, LogLevel::kWarn,
        "/docs will not render: {} missing from '{}' (run scripts/setup.sh)",
        impl->service->swagger_ui().missing(), impl->service->swagger_ui().dir());
  }
  RaiseOpenFilesLimit(options.max_connections, logger);

  Service* service = impl->service.get();
  RouterOptions router_options;
  router_options.api_key = options.api_key;
  router_options.max_body_bytes = options.max_body_bytes;
  router_options.max_response_bytes = options.max_response_bytes;
  router_options.keep_alive_timeout_s = options.keep_alive_timeout_s;
  router_options.keep_alive_max_requests = options.keep_alive_max_requests;
  router_options.store_open = [service] { return service->store() != nullptr; };
  router_options.logger = logger;
  impl->router =
      std::make_unique<Router>(AllRoutes(*service), std::move(router_options), &service->metrics());

  TransportOptions transport_options;
  transport_options.host = options.host;
  transport_options.port = options.port;
  transport_options.threads = WorkerThreads(options.threads);
  transport_options.limits.header_timeout = std::chrono::seconds(options.header_timeout_s);
  transport_options.limits.read_timeout = std::chrono::seconds(options.read_timeout_s);
  transport_options.limits.write_timeout = std::chrono::seconds(options.write_timeout_s);
  transport_options.limits.max_body_bytes = options.max_body_bytes;
  transport_options.keep_alive_timeout = std::chrono::seconds(options.keep_alive_timeout_s);
  transport_options.keep_alive_max_requests = options.keep_alive_max_requests;
  transport_options.request_timeout = std::chrono::seconds(options.request_timeout_s);
  transport_options.max_connections = options.max_connections;
  transport_options.max_connections_per_address = options.max_connections_per_address;
  transport_options.logger = logger;
  // Bind first: a taken port fails before the store's recovery.
  Result<std::unique_ptr<Transport>> transport =
      Transport::Listen(impl->router.get(), transport_options);
  if (!transport.ok()) return transport.status();
  impl->transport = std::move(*transport);
  Transport* bound = impl->transport.get();
  service->metrics().SetOpenConnectionsSource([bound] { return bound->open_connections(); });

  // Then the store: a held LOCK or a read-only filesystem fails here, before
  // anything says "listening".
  const auto open_start = std::chrono::steady_clock::now();
  StoreOptions store_options = options.store;
  if (!store_options.logger) store_options.logger = logger;
  if (!store_options.embedder_resolver) {
    store_options.embedder_resolver = embed::MakeResolver(options.embedders);
  }
  Result<std::unique_ptr<Store>> store = Store::Open(options.data_dir, store_options);
  if (!store.ok()) {
    impl->transport->Stop();
    return store.status().WithContext(fmt::format("opening the store in '{}'", options.data_dir));
  }
  impl->store = std::move(*store);
  // The Chroma API's catalog lives in the store's properties; a catalog file of an older
  // Quiver is imported (and removed) here.
  if (Status opened = impl->service->chroma_catalog().Open(
          impl->store.get(), options.data_dir + "/chroma-catalog.json", logger);
      !opened.ok()) {
    impl->transport->Stop();
    return opened.WithContext(fmt::format("opening the store in '{}'", options.data_dir));
  }
  Result<std::vector<CollectionInfo>> collections = impl->store->ListCollections();
  impl->service->set_store(impl->store.get());
  Log(logger, LogLevel::kInfo, "store '{}' open in {:.1f} ms ({} collections)", options.data_dir,
      MillisecondsSince(open_start), collections.ok() ? collections->size() : 0);

  impl->transport->Start();
  Log(logger, LogLevel::kInfo, "listening on http://{}:{} ({} worker threads{}); ready",
      options.host, impl->transport->port(), transport_options.threads,
      options.api_key.empty() ? ", no API key" : ", API key required");
  if (options.api_key.empty() && !IsLoopbackHost(options.host)) {
    Log(logger, LogLevel::kWarn,
        "listening on {}, which is not a loopback address, without an API key: anyone who can "
        "reach it can read and change every collection (set --api-key or $QUIVER_API_KEY)",
        options.host);
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (Status status = Stop(); !status.ok()) {
    Log(impl_->logger, LogLevel::kError, "closing the store failed: {}", status.ToString());
  }
}

int Server::port() const { return impl_->transport->port(); }

std::vector<std::pair<std::string, std::string>> Server::routes() const {
  std::vector<std::pair<std::string, std::string>> routes;
  for (const Route& route : impl_->router->routes()) routes.emplace_back(route.method, route.path);
  return routes;
}

Status Server::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mutex);
  if (impl_->stopped) return Status::Ok();
  impl_->stopped = true;
  const Logger& logger = impl_->logger;
  Log(logger, LogLevel::kInfo, "shutting down: no new connections; finishing requests in flight");
  const auto start = std::chrono::steady_clock::now();
  impl_->service->set_draining();
  impl_->transport->Stop();  // every worker has exited: no request uses the store
  impl_->service->set_store(nullptr);
  impl_->service->chroma_catalog().Close();
  Status closed = impl_->store->Close();
  impl_->store.reset();
  if (closed.ok()) {
    Log(logger, LogLevel::kInfo, "store closed (checkpointed) in {:.1f} ms; bye",
        MillisecondsSince(start));
  } else {
    Log(logger, LogLevel::kError, "closing the store failed: {}", closed.ToString());
  }
  return closed;
}

int RunServer(const ServerOptions& options) {
  // Block the signals before any thread starts, so every thread inherits the
  // mask and they are only ever received here, by sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t previous_mask;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &previous_mask);
  // A client that disconnects must not kill the server (sends use
  // MSG_NOSIGNAL; this covers any other write).
  signal(SIGPIPE, SIG_IGN);

  const Logger logger = options.logger ? options.logger : StderrLogger(LogLevel::kInfo);
  ServerOptions with_logger = options;
  with_logger.logger = logger;
  Result<std::unique_ptr<Server>> server = Server::Start(with_logger);
  if (!server.ok()) {
    Log(logger, LogLevel::kError, "cannot start: {}", server.status().ToString());
    pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log(logger, LogLevel::kInfo, "received {}", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  const Status stopped = (*server)->Stop();
  server->reset();
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  return stopped.ok() ? 0 : 1;
}

}  // namespace quiver::server
