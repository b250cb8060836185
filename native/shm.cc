// Shared-memory segments (POSIX shm and memfd) exposed to JS as real
// SharedArrayBuffers.
//
// A segment is mmap'ed MAP_SHARED and wrapped in a v8::BackingStore whose
// deleter munmaps it. V8 frees a BackingStore when the last SharedArrayBuffer
// that uses it (in any isolate: SABs posted to workers share it) is collected,
// so the mapping lives exactly as long as some thread can still see it.
//
// Invariant (one mapping per segment per process): at any time, for every
// segment (identified by the (st_dev, st_ino) of its file) there is at most
// one *live* BackingStore created here, and every shmOpen/mapFd of that
// segment, from any thread of this process, returns a SAB over that one
// BackingStore, hence over one virtual address. This matters because V8's
// Atomics.wait/notify between threads of one process key on the address: two
// mappings of one segment would be two different "locations" to V8, and a
// notify on one would never wake a wait on the other.
//
// The registry that upholds the invariant is process-global (threads have
// separate isolates but share the address space) and holds only weak
// references, so it never keeps a segment mapped by itself.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "addon.h"

namespace multiproc {
namespace {

using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::SharedArrayBuffer;
using v8::Value;

using Key = std::pair<uint64_t, uint64_t>;  // (st_dev, st_ino)

// The registry. Both objects are allocated once and never destroyed: worker
// threads (and BackingStore deleters running on them) may outlive static
// destructors at process exit, and the addon is never unloaded (-z nodelete).
std::mutex& RegistryMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::map<Key, std::weak_ptr<v8::BackingStore>>& Registry() {
  static auto* map = new std::map<Key, std::weak_ptr<v8::BackingStore>>;
  return *map;
}

// Deleter data: which registry entry the mapping belongs to.
struct Mapping {
  Key key;
};

// Runs on whatever thread drops the last reference to the BackingStore.
// Lock order: this takes RegistryMutex, so no code may drop a
// shared_ptr<BackingStore> while holding it (see MapSegment).
void Unmap(void* data, size_t length, void* deleter_data) {
  auto* mapping = static_cast<Mapping*>(deleter_data);
  munmap(data, length);
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto& registry = Registry();
    auto it = registry.find(mapping->key);
    // Another thread may already have replaced the expired entry with a fresh
    // mapping of the same segment (it saw our weak_ptr expire before we got
    // here): erase only an entry that is still expired, i.e. ours.
    if (it != registry.end() && it->second.expired()) registry.erase(it);
  }
  delete mapping;
}

// Maps the segment open as `fd` (does not close it) and returns its SAB,
// reusing this process's existing mapping of it if there is one. On failure
// throws and returns an empty handle.
Local<Value> MapSegment(Isolate* isolate, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ThrowErrno(isolate, "fstat", errno);
    return Local<Value>();
  }
  if (!S_ISREG(st.st_mode)) {  // shm and memfd segments are regular files
    ThrowErrno(isolate, "mapFd: not a regular file", EINVAL);
    return Local<Value>();
  }
  size_t size = static_cast<size_t>(st.st_size);
  // mmap of length 0 fails with EINVAL; a zero-size segment has no bytes to
  // share, so an ordinary empty SAB is equivalent.
  if (size == 0) return SharedArrayBuffer::New(isolate, 0);

  Key key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  // Declared outside the locked block: dropping a shared_ptr<BackingStore> may
  // run Unmap, which takes RegistryMutex, so both are released only after the
  // lock (destructors run in reverse order of declaration, after `lock`'s).
  std::shared_ptr<v8::BackingStore> existing;
  std::shared_ptr<v8::BackingStore> store;
  {
    // Held across lookup, mmap and insert so that two threads mapping the same
    // new segment at once cannot both create a mapping.
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto& registry = Registry();
    auto it = registry.find(key);
    if (it != registry.end()) existing = it->second.lock();
    // A segment resized since it was mapped (ftruncate by someone) gets a new
    // mapping of the new size; the old one lives on while its SABs do. The
    // one-address invariant only holds between mappings of equal size.
    if (existing && existing->ByteLength() == size) store = existing;
    if (!store) {
      void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (data == MAP_FAILED) {
        ThrowErrno(isolate, "mmap", errno);
        return Local<Value>();
      }
      store = SharedArrayBuffer::NewBackingStore(data, size, Unmap, new Mapping{key});
      registry[key] = store;  // replaces an expired or other-size entry
    }
  }
  return SharedArrayBuffer::New(isolate, store);
}

bool GetString(Isolate* isolate, Local<Value> value, const char* what, std::string* out) {
  if (!value->IsString()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8(isolate, (std::string(what) + " must be a string").c_str())
            .ToLocalChecked()));
    return false;
  }
  v8::String::Utf8Value utf8(isolate, value);
  out->assign(*utf8, utf8.length());
  return true;
}

// A byte size: a non-negative integer no larger than 2^53.
bool GetSize(Isolate* isolate, Local<Value> value, size_t* out) {
  double d = value->IsNumber() ? value.As<v8::Number>()->Value() : -1;
  if (!(d >= 0 && d <= 9007199254740992.0 && std::floor(d) == d)) {
    isolate->ThrowException(v8::Exception::RangeError(
        v8::String::NewFromUtf8Literal(isolate, "size must be a non-negative integer")));
    return false;
  }
  *out = static_cast<size_t>(d);
  return true;
}

// An fd or pid: an int32, else TypeError (so that a missing argument is not
// read as 0, i.e. stdin).
bool GetInt(Isolate* isolate, Local<Value> value, const char* what, int* out) {
  if (!value->IsInt32()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8(isolate, (std::string(what) + " must be an integer").c_str())
            .ToLocalChecked()));
    return false;
  }
  *out = value.As<v8::Int32>()->Value();
  return true;
}

// shmOpen(name, create, exclusive, size) -> SharedArrayBuffer
//   create && exclusive:  create a new segment of `size` bytes; EEXIST if the
//                         name is taken (Python's SharedMemory(create=True)).
//   create && !exclusive: create it like that if absent, else open the existing
//                         one as it is (never truncate a segment others use:
//                         shrinking it would SIGBUS their accesses).
//   !create:              open an existing segment (ENOENT if none); its size
//                         comes from fstat and `size` is ignored.
void ShmOpen(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  if (!GetString(isolate, args[0], "name", &name)) return;
  if (name.empty() || name[0] != '/') {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "shm name must start with '/'")));
    return;
  }
  bool create = args[1]->BooleanValue(isolate);
  bool exclusive = args[2]->BooleanValue(isolate);
  size_t size = 0;
  if (create && !GetSize(isolate, args[3], &size)) return;

  int fd = -1;
  bool created = false;
  if (create) {
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    created = fd >= 0;
    if (fd < 0 && (errno != EEXIST || exclusive)) return ThrowErrno(isolate, "shm_open", errno);
  }
  if (fd < 0) {
    fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) return ThrowErrno(isolate, "shm_open", errno);
  }
  if (created && ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());  // do not leave a half-made segment behind
    return ThrowErrno(isolate, "ftruncate", err);
  }
  Local<Value> sab = MapSegment(isolate, fd);
  close(fd);  // the mapping keeps the segment alive
  if (sab.IsEmpty()) {
    if (created) shm_unlink(name.c_str());
    return;
  }
  args.GetReturnValue().Set(sab);
}

// shmUnlink(name): removes the name; mappings stay valid until unmapped.
void ShmUnlink(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  if (!GetString(isolate, args[0], "name", &name)) return;
  if (shm_unlink(name.c_str()) != 0) return ThrowErrno(isolate, "shm_unlink", errno);
}

// memfdCreate(name, size) -> fd. Anonymous: the segment exists while some fd
// or mapping refers to it, so it cannot leak past the processes that use it.
// Another process attaches through /proc/<pid>/fd/<fd> (openProcFd) or by
// inheriting the fd. CLOEXEC: children get it only when passed explicitly.
void MemfdCreate(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  size_t size = 0;
  if (!GetString(isolate, args[0], "name", &name) || !GetSize(isolate, args[1], &size)) return;
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return ThrowErrno(isolate, "memfd_create", errno);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(isolate, "ftruncate", err);
  }
  args.GetReturnValue().Set(fd);
}

// mapFd(fd) -> SharedArrayBuffer over the whole file; the fd stays open.
void MapFd(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  int fd;
  if (!GetInt(isolate, args[0], "fd", &fd)) return;
  Local<Value> sab = MapSegment(isolate, fd);
  if (!sab.IsEmpty()) args.GetReturnValue().Set(sab);
}

// openProcFd(pid, fd) -> a new fd of ours for the file behind `fd` of process
// `pid`. Needs ptrace-read access to `pid` (same user, not made undumpable).
void OpenProcFd(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  int pid, fd;
  if (!GetInt(isolate, args[0], "pid", &pid) || !GetInt(isolate, args[1], "fd", &fd)) return;
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  int ours = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (ours < 0) return ThrowErrno(isolate, ("open(" + path + ")").c_str(), errno);
  args.GetReturnValue().Set(ours);
}

}  // namespace

void InitShm(v8::Local<v8::Context> context, v8::Local<v8::Object> exports) {
  SetMethod(context, exports, "shmOpen", ShmOpen);
  SetMethod(context, exports, "shmUnlink", ShmUnlink);
  SetMethod(context, exports, "memfdCreate", MemfdCreate);
  SetMethod(context, exports, "mapFd", MapFd);
  SetMethod(context, exports, "openProcFd", OpenProcFd);
}

}  // namespace multiproc
