// Liveness marks: storeOnExit(sab, byteOffset, value) stores `value` into an
// int32 of shared memory when the calling thread's Node environment is torn
// down — at a normal end, at process.exit() in a worker, and when a worker is
// stopped by terminate(), where no JavaScript of the worker runs any more.
// Locks use it to tell that a holder thread is gone (a whole process that dies
// is seen through its pid instead: a SIGKILL runs no cleanup at all).
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "addon.h"

namespace multiproc {
namespace {

struct ExitStore {
  std::shared_ptr<v8::BackingStore> store;  // keeps the memory mapped until the store is done
  size_t offset;
  int32_t value;
};

void RunExitStore(void* arg) {
  std::unique_ptr<ExitStore> es(static_cast<ExitStore*>(arg));
  auto* word = reinterpret_cast<std::atomic<int32_t>*>(static_cast<char*>(es->store->Data()) + es->offset);
  // seq_cst, as every JS Atomics operation: a reader that sees the value also
  // sees everything this thread wrote before it ended.
  word->store(es->value, std::memory_order_seq_cst);
}

void StoreOnExit(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args[0]->IsSharedArrayBuffer()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "storeOnExit: expected a SharedArrayBuffer")));
    return;
  }
  auto store = args[0].As<v8::SharedArrayBuffer>()->GetBackingStore();
  double offset = args[1]->NumberValue(context).FromMaybe(-1);
  if (!(offset >= 0) || static_cast<size_t>(offset) % 4 != 0 || static_cast<size_t>(offset) + 4 > store->ByteLength()) {
    isolate->ThrowException(v8::Exception::RangeError(
        v8::String::NewFromUtf8Literal(isolate, "storeOnExit: byteOffset must be 4-aligned and inside the buffer")));
    return;
  }
  int32_t value = args[2]->Int32Value(context).FromMaybe(0);
  node::Environment* env = node::GetCurrentEnvironment(context);
  if (env == nullptr) return ThrowErrno(isolate, "storeOnExit: no Node environment", EINVAL);
  node::AddEnvironmentCleanupHook(isolate, RunExitStore, new ExitStore{store, static_cast<size_t>(offset), value});
}

// ---- fds that end with their thread -------------------------------------------
// A worker thread's fds belong to the whole process: a worker that ends (or is
// terminated) would leak the segment fds it opened. trackFd(fd) puts an fd in
// its environment's set, closed when that environment is torn down;
// closeTrackedFd(fd) closes it earlier and takes it out of the set, so no fd
// is ever closed twice (a reused number could belong to someone else by then).
std::mutex fds_mu;
std::map<node::Environment*, std::set<int>> fds_by_env;

void CloseEnvFds(void* arg) {
  auto* env = static_cast<node::Environment*>(arg);
  std::set<int> fds;
  {
    std::lock_guard<std::mutex> lock(fds_mu);
    auto it = fds_by_env.find(env);
    if (it == fds_by_env.end()) return;
    fds.swap(it->second);
    fds_by_env.erase(it);
  }
  for (int fd : fds) close(fd);
}

int FdArg(const v8::FunctionCallbackInfo<v8::Value>& args) {
  return args[0]->IsInt32() ? args[0].As<v8::Int32>()->Value() : -1;
}

void TrackFd(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  int fd = FdArg(args);
  node::Environment* env = node::GetCurrentEnvironment(isolate->GetCurrentContext());
  if (fd < 0 || env == nullptr) return ThrowErrno(isolate, "trackFd", EINVAL);
  bool first;
  {
    std::lock_guard<std::mutex> lock(fds_mu);
    auto [it, inserted] = fds_by_env.try_emplace(env);
    first = inserted;
    it->second.insert(fd);
  }
  if (first) node::AddEnvironmentCleanupHook(isolate, CloseEnvFds, env);
}

void CloseTrackedFd(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  int fd = FdArg(args);
  node::Environment* env = node::GetCurrentEnvironment(isolate->GetCurrentContext());
  bool owned = false;
  {
    std::lock_guard<std::mutex> lock(fds_mu);
    auto it = fds_by_env.find(env);
    if (it != fds_by_env.end()) owned = it->second.erase(fd) > 0;
  }
  if (owned) close(fd);
}

}  // namespace

void InitLiveness(v8::Local<v8::Context> context, v8::Local<v8::Object> exports) {
  SetMethod(context, exports, "storeOnExit", StoreOnExit);
  SetMethod(context, exports, "trackFd", TrackFd);
  SetMethod(context, exports, "closeTrackedFd", CloseTrackedFd);
}

}  // namespace multiproc
