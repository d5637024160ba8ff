#include "http/http2_session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <vector>

#include "base/crypto.h"
#include "base/log.h"

namespace ferry::http {

namespace bhttp = beast::http;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Http2Session::Stream {
  explicit Stream(int32_t stream_id, const asio::any_io_executor& executor)
      : id(stream_id), drained(executor) {
    req.version(11);
  }
  int32_t id;
  Request req;
  size_t header_bytes = 0;
  bool body_too_large = false;
  bool closed = false;           // nghttp2 closed it (done, or reset by the peer)
  bool handler_running = false;  // a request coroutine refers to it
  // The reply's body, queued for the data source.
  std::string out;
  size_t out_pos = 0;
  bool eof = false;       // nothing follows `out`
  bool deferred = false;  // the data source is waiting for bytes
  BodyWriter* writer = nullptr;
  asio::steady_timer drained;  // cancelled when `out` is sent or the stream closes
};

namespace {

// A streamed reply's body as DATA frames: write() queues bytes for nghttp2's data source and
// waits until they are handed to nghttp2 (its flow control is the back-pressure).
class DataWriter final : public BodyWriter {
 public:
  DataWriter(Http2Session::Stream& st, std::function<void()> resume, std::chrono::seconds timeout)
      : st_(st), resume_(std::move(resume)), timeout_(timeout) {}
  asio::awaitable<bool> write(std::string bytes) override {
    if (st_.closed || cancelled()) co_return false;
    st_.out.append(bytes);
    resume_();
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (!st_.closed && st_.out_pos < st_.out.size()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        cancel();
        co_return false;
      }
      st_.drained.expires_at(deadline);
      co_await st_.drained.async_wait(use_tuple);
    }
    co_return !st_.closed;
  }

 private:
  Http2Session::Stream& st_;
  std::function<void()> resume_;
  std::chrono::seconds timeout_;
};

bool connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "transfer-encoding" ||
         name == "upgrade" || name == "proxy-connection";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

// nghttp2's callbacks, with the session as user data.
struct Callbacks {
  static Http2Session& self(void* user) { return *static_cast<Http2Session*>(user); }
  static Http2Session::Stream* find(Http2Session& s, int32_t id) {
    auto it = s.streams_.find(id);
    return it == s.streams_.end() ? nullptr : it->second.get();
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (s.stopping_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    s.streams_[frame->hd.stream_id] =
        std::make_unique<Http2Session::Stream>(frame->hd.stream_id, s.stream_.get_executor());
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto* st = find(s, frame->hd.stream_id);
    if (st == nullptr) return 0;
    st->header_bytes += namelen + valuelen + 32;
    if (st->header_bytes > s.limits_.header_limit_bytes) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    }
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":method") {
      st->req.method_string(v);
    } else if (n == ":path") {
      st->req.target(v);
    } else if (n == ":authority") {
      st->req.set(bhttp::field::host, v);
    } else if (!n.empty() && n[0] != ':') {
      st->req.insert(n, v);
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                           void* user) {
    auto& s = self(user);
    auto* st = find(s, id);
    if (st == nullptr) return 0;
    if (st->body_too_large || st->req.body().size() + len > s.limits_.body_limit_bytes) {
      st->body_too_large = true;
      st->req.body().clear();
      return 0;
    }
    st->req.body().append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      return 0;
    }
    auto* st = find(s, frame->hd.stream_id);
    if (st == nullptr || st->handler_running) return 0;
    st->handler_running = true;
    ++s.handlers_;
    auto keep = s.shared_from_this();
    asio::co_spawn(s.stream_.get_executor(), s.handle(st->id), [keep](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("http2 request failed: {}", ex.what());
      }
    });
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t id, uint32_t, void* user) {
    auto& s = self(user);
    auto it = s.streams_.find(id);
    if (it == s.streams_.end()) return 0;
    auto& st = *it->second;
    st.closed = true;
    st.drained.cancel();
    if (st.writer != nullptr) st.writer->cancel();
    if (!st.handler_running) s.streams_.erase(it);
    return 0;
  }

  static ssize_t read_data(nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source*, void* user) {
    auto& s = self(user);
    auto* st = find(s, id);
    if (st == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t avail = st->out.size() - st->out_pos;
    if (avail == 0 && !st->eof) {
      st->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = std::min(avail, length);
    std::memcpy(buf, st->out.data() + st->out_pos, n);
    st->out_pos += n;
    if (st->out_pos == st->out.size()) {
      st->out.clear();
      st->out_pos = 0;
      st->drained.cancel();
      if (st->eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return static_cast<ssize_t>(n);
  }
};

Http2Session::Http2Session(beast::tcp_stream& stream, const Handler& handler, PeerInfo peer,
                           Http2Limits limits)
    : stream_(stream),
      handler_(handler),
      peer_(std::move(peer)),
      limits_(limits),
      write_signal_(stream.get_executor()),
      done_signal_(stream.get_executor()) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::on_stream_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096);
  nghttp2_session_server_new2(&session_, cbs, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(cbs);
}

Http2Session::~Http2Session() { nghttp2_session_del(session_); }

void Http2Session::kick() { write_signal_.cancel(); }

bool Http2Session::upgrade(Request req) {
  // HTTP2-Settings is base64url without padding.
  std::string settings(req["HTTP2-Settings"]);
  for (auto& c : settings) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (settings.size() % 4 != 0) settings.push_back('=');
  auto decoded = base::base64_decode(settings);
  if (!decoded) return false;
  bool head = req.method() == bhttp::verb::head;
  if (nghttp2_session_upgrade2(session_, reinterpret_cast<const uint8_t*>(decoded->data()),
                               decoded->size(), head ? 1 : 0, nullptr) != 0) {
    return false;
  }
  auto st = std::make_unique<Stream>(1, stream_.get_executor());
  st->req = std::move(req);
  st->req.erase(bhttp::field::upgrade);
  st->req.erase(bhttp::field::connection);
  st->req.erase("HTTP2-Settings");
  st->handler_running = true;
  streams_[1] = std::move(st);
  ++handlers_;
  auto keep = shared_from_this();
  asio::co_spawn(stream_.get_executor(), handle(1), [keep](std::exception_ptr) {});
  return true;
}

void Http2Session::stop() {
  if (stopping_ || closed_) return;
  stopping_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  for (auto& [id, st] : streams_) {
    if (st->writer != nullptr) st->writer->cancel();
  }
  kick();
}

asio::awaitable<void> Http2Session::run(beast::flat_buffer& buffer) {
  auto self = shared_from_this();
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.header_limit_bytes},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  writer_running_ = true;
  asio::co_spawn(stream_.get_executor(), write_loop(), asio::detached);
  while (!closed_) {
    if (buffer.size() > 0) {
      auto data = buffer.data();
      ssize_t used =
          nghttp2_session_mem_recv(session_, static_cast<const uint8_t*>(data.data()), data.size());
      if (used < 0) {
        spdlog::debug("http2: {}", nghttp2_strerror(static_cast<int>(used)));
        break;
      }
      buffer.consume(static_cast<size_t>(used));
      kick();
    }
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
    if (stopping_ && handlers_ == 0) break;
    if (handlers_ == 0) {
      stream_.expires_after(limits_.idle_timeout);
    } else {
      stream_.expires_never();
    }
    auto [ec, n] = co_await stream_.async_read_some(buffer.prepare(16 * 1024), use_tuple);
    if (ec) break;
    buffer.commit(n);
  }
  stream_.expires_never();
  // Whatever is still queued (a GOAWAY, the last replies) goes out before the socket closes:
  // the writer flushes while request coroutines finish.
  for (auto& [id, st] : streams_) {
    if (st->writer != nullptr) st->writer->cancel();
  }
  while (handlers_ > 0) {
    done_signal_.expires_after(std::chrono::seconds(1));
    co_await done_signal_.async_wait(use_tuple);
  }
  closed_ = true;
  kick();
  while (writer_running_) {
    done_signal_.expires_after(std::chrono::seconds(1));
    co_await done_signal_.async_wait(use_tuple);
  }
}

asio::awaitable<void> Http2Session::write_loop() {
  auto self = shared_from_this();
  bool failed = false;
  while (!failed) {
    while (nghttp2_session_want_write(session_)) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      // The socket write gets write_timeout; the pointer stays valid until the next mem_send.
      asio::steady_timer deadline(stream_.get_executor());
      deadline.expires_after(limits_.write_timeout);
      auto writing = std::make_shared<bool>(true);
      deadline.async_wait([this, writing, self](boost::system::error_code ec) {
        boost::system::error_code ignored;
        if (!ec && *writing) stream_.socket().cancel(ignored);
      });
      auto [ec, written] = co_await asio::async_write(
          stream_.socket(), asio::buffer(data, static_cast<size_t>(n)), use_tuple);
      *writing = false;
      deadline.cancel();
      if (ec) {
        failed = true;
        break;
      }
    }
    if (failed || closed_) break;
    if (stopping_ && handlers_ == 0 && !nghttp2_session_want_write(session_)) {
      stream_.cancel();  // ends the read loop: every answer is out
    }
    write_signal_.expires_at(asio::steady_timer::time_point::max());
    co_await write_signal_.async_wait(use_tuple);
  }
  if (failed) {
    closed_ = true;
    stream_.cancel();
  }
  writer_running_ = false;
  done_signal_.cancel();
}

asio::awaitable<void> Http2Session::handle(int32_t id) {
  auto self = shared_from_this();
  Stream& st = *streams_.at(id);
  std::optional<Reply> reply;
  if (st.body_too_large) {
    auto res = make_response(st.req, bhttp::status::payload_too_large, "text/plain",
                             "request body too large\n");
    reply.emplace(std::move(res));
  } else {
    reply.emplace(co_await handler_(st.req, peer_));
  }
  bool head_only = true;
  if (!st.closed && !closed_) {
    const Response& res = reply->response;
    std::vector<std::pair<std::string, std::string>> fields;
    fields.emplace_back(":status", std::to_string(res.result_int()));
    for (const auto& f : res) {
      std::string name = lower(f.name_string());
      if (connection_specific(name)) continue;
      if (reply->stream && name == "content-length") continue;
      fields.emplace_back(std::move(name), std::string(f.value()));
    }
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : fields) {
      nva.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()),
                     n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    if (!reply->stream) {
      st.out = std::move(res.body());
      st.eof = true;
    }
    nghttp2_data_provider provider{};
    provider.read_callback = &Callbacks::read_data;
    head_only = st.req.method() == bhttp::verb::head || (st.out.empty() && st.eof);
    nghttp2_submit_response(session_, id, nva.data(), nva.size(), head_only ? nullptr : &provider);
    kick();
  }
  if (reply->stream) {
    // Runs even when the stream is gone, with a cancelled writer, to release what it holds.
    auto resume = [this, &st] {
      if (st.deferred && !st.closed && !closed_) {
        st.deferred = false;
        nghttp2_session_resume_data(session_, st.id);
      }
      kick();
    };
    DataWriter writer(st, resume, limits_.write_timeout);
    st.writer = &writer;
    if (stopping_ || closed_ || st.closed || head_only) writer.cancel();
    co_await reply->stream(writer);
    st.writer = nullptr;
    st.eof = true;
    resume();
  }
  request_done(id);
}

void Http2Session::request_done(int32_t id) {
  auto it = streams_.find(id);
  if (it != streams_.end()) {
    it->second->handler_running = false;
    if (it->second->closed) streams_.erase(it);
  }
  --handlers_;
  done_signal_.cancel();
  kick();
}

}  // namespace ferry::http
