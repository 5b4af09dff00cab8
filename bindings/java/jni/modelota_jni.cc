// JNI glue of the Java binding (package com.modelota) over the C API's
// in-process updater (ota/agent.h). The rules every entry point keeps:
//  - no C++ exception leaves it (Guarded turns one into a Java exception);
//  - it makes no JNI call while a Java exception is pending, except to clean up;
//  - every local reference it makes in a loop or callback is deleted at once,
//    and strings are copied out of Java (GetStringRegion), so nothing stays
//    pinned or needs a release;
//  - strings cross as standard UTF-8 on the C side and UTF-16 on the Java
//    side (JNI's own "modified UTF-8" differs for NUL and characters beyond
//    the BMP), and a Java string holding NUL is refused: C would cut it.
#include <jni.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "com_modelota_Lease.h"
#include "com_modelota_Updater.h"
#include "ota/agent.h"

namespace {

// Classes and methods looked up once in JNI_OnLoad (on Android, FindClass
// from a thread the app did not start would see only the system's classes).
struct JavaRefs {
  jclass model_ota_exception = nullptr;
  jmethodID model_ota_exception_init = nullptr;
  jclass null_pointer = nullptr;
  jclass illegal_argument = nullptr;
  jclass illegal_state = nullptr;
  jclass out_of_memory = nullptr;
  jclass runtime_exception = nullptr;
  jclass string = nullptr;
  jmethodID on_progress = nullptr;
};
JavaRefs g_refs;

constexpr char16_t kReplacement = 0xFFFD;

// UTF-8 to UTF-16; a malformed sequence becomes U+FFFD.
std::u16string Utf8ToUtf16(std::string_view in) {
  std::u16string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    int extra = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      extra = 1;
      cp = b0 & 0x1F;
      min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      extra = 2;
      cp = b0 & 0x0F;
      min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      extra = 3;
      cp = b0 & 0x07;
      min = 0x10000;
    } else {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    for (; j < in.size() && j <= i + static_cast<std::size_t>(extra); ++j) {
      const auto b = static_cast<unsigned char>(in[j]);
      if ((b & 0xC0) != 0x80) break;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (j != i + 1 + static_cast<std::size_t>(extra) || cp < min || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back(kReplacement);
      i = j > i + 1 ? j : i + 1;
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
    i = j;
  }
  return out;
}

// UTF-16 to UTF-8; an unpaired surrogate becomes U+FFFD.
std::string Utf16ToUtf8(const std::vector<jchar>& in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char32_t cp = in[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < in.size() && in[i + 1] >= 0xDC00 &&
        in[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (in[i + 1] - 0xDC00);
      ++i;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = kReplacement;
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

void Throw(JNIEnv* env, jclass type, const std::string& message) {
  if (!env->ExceptionCheck()) env->ThrowNew(type, message.c_str());
}

// A Java string for a C string (nullptr for NULL, or with an exception
// pending when the JVM could not make it).
jstring NewJavaString(JNIEnv* env, const char* utf8) {
  if (utf8 == nullptr) return nullptr;
  const std::u16string utf16 = Utf8ToUtf16(utf8);
  if (utf16.size() > static_cast<std::size_t>(std::numeric_limits<jsize>::max())) {
    Throw(env, g_refs.out_of_memory, "string too long for Java");
    return nullptr;
  }
  return env->NewString(reinterpret_cast<const jchar*>(utf16.data()),
                        static_cast<jsize>(utf16.size()));
}

// A Java string copied out as UTF-8 for one C call. Read() throws (and
// returns false) for null when `required`, and for a string holding NUL.
class CString {
 public:
  [[nodiscard]] bool Read(JNIEnv* env, jstring s, const char* name, bool required) {
    if (s == nullptr) {
      if (required) Throw(env, g_refs.null_pointer, std::string(name) + " must not be null");
      return !required;
    }
    const jsize length = env->GetStringLength(s);
    std::vector<jchar> chars(static_cast<std::size_t>(length));
    env->GetStringRegion(s, 0, length, chars.data());
    if (env->ExceptionCheck()) return false;
    value_ = Utf16ToUtf8(chars);
    if (value_->find('\0') != std::string::npos) {
      Throw(env, g_refs.illegal_argument, std::string(name) + " must not contain a NUL character");
      return false;
    }
    return true;
  }
  // NULL for a null Java string.
  const char* get() const { return value_ ? value_->c_str() : nullptr; }

 private:
  std::optional<std::string> value_;
};

// Throws ModelOtaException(status name, ota_last_error(), outcomes).
void ThrowStatus(JNIEnv* env, ota_status status, const char* outcomes = nullptr) {
  const std::string message = ota_last_error();  // Copied before anything else runs.
  if (env->ExceptionCheck()) return;
  jstring name = NewJavaString(env, ota_status_name(status));
  jstring text = name == nullptr ? nullptr : NewJavaString(env, message.c_str());
  jstring json = text == nullptr ? nullptr : NewJavaString(env, outcomes);
  if (!env->ExceptionCheck()) {
    auto error = static_cast<jthrowable>(env->NewObject(
        g_refs.model_ota_exception, g_refs.model_ota_exception_init, name, text, json));
    if (error != nullptr) {
      env->Throw(error);
      env->DeleteLocalRef(error);
    }
  }
  if (json != nullptr) env->DeleteLocalRef(json);
  if (text != nullptr) env->DeleteLocalRef(text);
  if (name != nullptr) env->DeleteLocalRef(name);
}

// Runs `body`, turning a C++ exception into a Java one; `fallback` is what
// the entry point returns then (Java ignores it while an exception pends).
template <typename T, typename Body>
T Guarded(JNIEnv* env, T fallback, Body body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    Throw(env, g_refs.out_of_memory, "out of memory in the ModelOTA native library");
  } catch (const std::exception& e) {
    Throw(env, g_refs.runtime_exception, std::string("ModelOTA native library: ") + e.what());
  } catch (...) {
    Throw(env, g_refs.runtime_exception, "ModelOTA native library: unknown C++ exception");
  }
  return fallback;
}

template <typename Body>
void GuardedVoid(JNIEnv* env, Body body) noexcept {
  (void)Guarded(env, 0, [&] {
    body();
    return 0;
  });
}

template <typename T>
T* Handle(JNIEnv* env, jlong handle, const char* what) {
  if (handle == 0) Throw(env, g_refs.illegal_state, std::string("the ") + what + " is closed");
  return reinterpret_cast<T*>(static_cast<std::intptr_t>(handle));
}

jlong ToJava(const void* handle) {
  return static_cast<jlong>(reinterpret_cast<std::intptr_t>(handle));
}

// Frees a string the updater returned.
struct FreeOtaString {
  void operator()(char* s) const { ota_free_string(s); }
};
using OtaString = std::unique_ptr<char, FreeOtaString>;

jlong ToJavaCount(unsigned long long n) {
  constexpr auto kMax = static_cast<unsigned long long>(std::numeric_limits<jlong>::max());
  return static_cast<jlong>(n > kMax ? kMax : n);
}

// The listener of one update() call. The C callback runs on the updating
// thread, which is the Java caller's: `env` is valid there and only there.
struct ProgressContext {
  JNIEnv* env;
  jobject listener;
  std::thread::id thread;
  ota_updater* updater;
  bool stopped = false;  // The listener threw: no more Java calls.
};

void OnProgress(const char* model, unsigned long long done, unsigned long long total, void* user) {
  auto* c = static_cast<ProgressContext*>(user);
  if (c->stopped || std::this_thread::get_id() != c->thread) return;
  JNIEnv* env = c->env;
  try {
    jstring name = NewJavaString(env, model);
    if (!env->ExceptionCheck()) {
      env->CallVoidMethod(c->listener, g_refs.on_progress, name, ToJavaCount(done),
                          ToJavaCount(total));
    }
    if (name != nullptr) env->DeleteLocalRef(name);
  } catch (const std::bad_alloc&) {
    Throw(env, g_refs.out_of_memory, "out of memory in the ModelOTA progress callback");
  }
  if (env->ExceptionCheck()) {
    // The listener's exception stops the update and is what update() throws.
    c->stopped = true;
    ota_updater_cancel(c->updater);
  }
}

jclass GlobalClass(JNIEnv* env, const char* name) {
  jclass local = env->FindClass(name);
  if (local == nullptr) return nullptr;
  auto global = static_cast<jclass>(env->NewGlobalRef(local));
  env->DeleteLocalRef(local);
  return global;
}

}  // namespace

extern "C" {

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM* vm, void*) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_6) != JNI_OK) return JNI_ERR;
  JavaRefs& r = g_refs;
  r.model_ota_exception = GlobalClass(env, "com/modelota/ModelOtaException");
  if (r.model_ota_exception == nullptr) return JNI_ERR;
  r.model_ota_exception_init = env->GetMethodID(
      r.model_ota_exception, "<init>", "(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;)V");
  if (r.model_ota_exception_init == nullptr) return JNI_ERR;
  jclass listener = env->FindClass("com/modelota/ProgressListener");
  if (listener == nullptr) return JNI_ERR;
  r.on_progress = env->GetMethodID(listener, "onProgress", "(Ljava/lang/String;JJ)V");
  env->DeleteLocalRef(listener);
  if (r.on_progress == nullptr) return JNI_ERR;
  r.null_pointer = GlobalClass(env, "java/lang/NullPointerException");
  r.illegal_argument = GlobalClass(env, "java/lang/IllegalArgumentException");
  r.illegal_state = GlobalClass(env, "java/lang/IllegalStateException");
  r.out_of_memory = GlobalClass(env, "java/lang/OutOfMemoryError");
  r.runtime_exception = GlobalClass(env, "java/lang/RuntimeException");
  r.string = GlobalClass(env, "java/lang/String");
  if (r.null_pointer == nullptr || r.illegal_argument == nullptr || r.illegal_state == nullptr ||
      r.out_of_memory == nullptr || r.runtime_exception == nullptr || r.string == nullptr) {
    return JNI_ERR;
  }
  return JNI_VERSION_1_6;
}

JNIEXPORT void JNICALL JNI_OnUnload(JavaVM* vm, void*) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_6) != JNI_OK) return;
  for (jclass c :
       {g_refs.model_ota_exception, g_refs.null_pointer, g_refs.illegal_argument,
        g_refs.illegal_state, g_refs.out_of_memory, g_refs.runtime_exception, g_refs.string}) {
    if (c != nullptr) env->DeleteGlobalRef(c);
  }
  g_refs = JavaRefs{};
}

JNIEXPORT jlong JNICALL Java_com_modelota_Updater_nativeOpen(
    JNIEnv* env, jclass, jstring state_dir, jstring server_url, jstring trusted_root_file,
    jobjectArray models, jstring enrollment_token, jstring ca_bundle_file, jstring app_version,
    jstring device_facts_json, jstring download_policy_json, jint confirm_sessions,
    jlong confirm_window_seconds, jstring drain_policy, jlong drain_deadline_ms) {
  return Guarded(env, jlong{0}, [&]() -> jlong {
    CString state, server, root, token, ca, app, facts, policy, drain;
    if (!state.Read(env, state_dir, "stateDir", true) ||
        !server.Read(env, server_url, "serverUrl", false) ||
        !root.Read(env, trusted_root_file, "trustedRootFile", false) ||
        !token.Read(env, enrollment_token, "enrollmentToken", false) ||
        !ca.Read(env, ca_bundle_file, "caBundleFile", false) ||
        !app.Read(env, app_version, "appVersion", false) ||
        !facts.Read(env, device_facts_json, "deviceFactsJson", false) ||
        !policy.Read(env, download_policy_json, "downloadPolicyJson", false) ||
        !drain.Read(env, drain_policy, "drainPolicy", false)) {
      return 0;
    }
    const jsize model_count = models == nullptr ? 0 : env->GetArrayLength(models);
    std::vector<CString> model_names(static_cast<std::size_t>(model_count));
    std::vector<const char*> model_ptrs;
    for (jsize i = 0; i < model_count; ++i) {
      auto name = static_cast<jstring>(env->GetObjectArrayElement(models, i));
      if (env->ExceptionCheck()) return 0;
      const bool ok = model_names[static_cast<std::size_t>(i)].Read(env, name, "a model", true);
      if (name != nullptr) env->DeleteLocalRef(name);
      if (!ok) return 0;
      model_ptrs.push_back(model_names[static_cast<std::size_t>(i)].get());
    }
    ota_updater_config c;
    ota_updater_config_init(&c);
    c.state_dir = state.get();
    c.server_url = server.get();
    c.trusted_root_file = root.get();
    c.models = model_ptrs.empty() ? nullptr : model_ptrs.data();
    c.model_count = model_ptrs.size();
    c.enrollment_token = token.get();
    c.ca_bundle_file = ca.get();
    c.app_version = app.get();
    c.device_facts_json = facts.get();
    c.download_policy_json = policy.get();
    c.confirm_sessions = confirm_sessions;
    c.confirm_window_seconds = static_cast<long long>(confirm_window_seconds);
    c.drain_policy = drain.get();
    c.drain_deadline_ms = static_cast<long long>(drain_deadline_ms);
    ota_updater* updater = nullptr;
    const ota_status s = ota_updater_open(&c, &updater);
    if (s != OTA_OK) {
      ThrowStatus(env, s);
      return 0;
    }
    return ToJava(updater);
  });
}

JNIEXPORT void JNICALL Java_com_modelota_Updater_nativeClose(JNIEnv* env, jclass, jlong handle) {
  GuardedVoid(env, [&] { ota_updater_close(reinterpret_cast<ota_updater*>(handle)); });
}

JNIEXPORT jstring JNICALL Java_com_modelota_Updater_nativeCheck(JNIEnv* env, jclass, jlong handle) {
  return Guarded(env, jstring{nullptr}, [&]() -> jstring {
    auto* updater = Handle<ota_updater>(env, handle, "updater");
    if (updater == nullptr) return nullptr;
    char* raw = nullptr;
    const ota_status s = ota_updater_check(updater, &raw);
    const OtaString json(raw);
    if (s != OTA_OK) {
      ThrowStatus(env, s);
      return nullptr;
    }
    return NewJavaString(env, json ? json.get() : "[]");
  });
}

JNIEXPORT jstring JNICALL Java_com_modelota_Updater_nativeUpdate(JNIEnv* env, jclass, jlong handle,
                                                                 jobject listener) {
  return Guarded(env, jstring{nullptr}, [&]() -> jstring {
    auto* updater = Handle<ota_updater>(env, handle, "updater");
    if (updater == nullptr) return nullptr;
    ProgressContext context{env, listener, std::this_thread::get_id(), updater};
    char* raw = nullptr;
    const ota_status s =
        ota_updater_update(updater, listener != nullptr ? OnProgress : nullptr, &context, &raw);
    const OtaString json(raw);
    if (env->ExceptionCheck()) return nullptr;  // The listener's exception goes up.
    if (s != OTA_OK) {
      ThrowStatus(env, s, json.get());
      return nullptr;
    }
    return NewJavaString(env, json ? json.get() : "[]");
  });
}

JNIEXPORT void JNICALL Java_com_modelota_Updater_nativeCancel(JNIEnv*, jclass, jlong handle) {
  ota_updater_cancel(reinterpret_cast<ota_updater*>(handle));  // NULL is ignored.
}

JNIEXPORT void JNICALL Java_com_modelota_Updater_nativeSetConditions(JNIEnv* env, jclass,
                                                                     jlong handle, jstring json) {
  GuardedVoid(env, [&] {
    auto* updater = Handle<ota_updater>(env, handle, "updater");
    CString conditions;
    if (updater == nullptr || !conditions.Read(env, json, "conditionsJson", true)) return;
    const ota_status s = ota_updater_set_conditions(updater, conditions.get());
    if (s != OTA_OK) ThrowStatus(env, s);
  });
}

JNIEXPORT jlong JNICALL Java_com_modelota_Updater_nativeGetModel(JNIEnv* env, jclass, jlong handle,
                                                                 jstring model, jint policy) {
  return Guarded(env, jlong{0}, [&]() -> jlong {
    auto* updater = Handle<ota_updater>(env, handle, "updater");
    CString name;
    if (updater == nullptr || !name.Read(env, model, "model", true)) return 0;
    ota_lease* lease = nullptr;
    const ota_status s =
        ota_updater_get_model(updater, name.get(), static_cast<ota_model_policy>(policy), &lease);
    if (s != OTA_OK) {
      ThrowStatus(env, s);
      return 0;
    }
    return ToJava(lease);
  });
}

JNIEXPORT jstring JNICALL Java_com_modelota_Updater_nativeWait(JNIEnv* env, jclass, jlong handle) {
  return Guarded(env, jstring{nullptr}, [&]() -> jstring {
    auto* updater = Handle<ota_updater>(env, handle, "updater");
    if (updater == nullptr) return nullptr;
    char* raw = nullptr;
    const ota_status s = ota_updater_wait(updater, &raw);
    const OtaString json(raw);
    if (s != OTA_OK) {
      ThrowStatus(env, s, json.get());
      return nullptr;
    }
    return json ? NewJavaString(env, json.get()) : nullptr;
  });
}

JNIEXPORT void JNICALL Java_com_modelota_Updater_nativeReportSession(JNIEnv* env, jclass,
                                                                     jlong handle,
                                                                     jstring version_id,
                                                                     jboolean ok, jstring message) {
  GuardedVoid(env, [&] {
    auto* updater = Handle<ota_updater>(env, handle, "updater");
    CString id, text;
    if (updater == nullptr || !id.Read(env, version_id, "versionId", true) ||
        !text.Read(env, message, "message", false)) {
      return;
    }
    const ota_status s = ota_agent_report_session(ota_updater_agent(updater), id.get(),
                                                  ok == JNI_TRUE ? 1 : 0, text.get());
    if (s != OTA_OK) ThrowStatus(env, s);
  });
}

JNIEXPORT jobjectArray JNICALL Java_com_modelota_Lease_nativeStrings(JNIEnv* env, jclass,
                                                                     jlong handle) {
  return Guarded(env, jobjectArray{nullptr}, [&]() -> jobjectArray {
    const auto* lease = Handle<ota_lease>(env, handle, "lease");
    if (lease == nullptr) return nullptr;
    const char* fields[] = {ota_lease_model(lease), ota_lease_version(lease),
                            ota_lease_version_id(lease), ota_lease_dir(lease),
                            ota_lease_model_path(lease)};
    constexpr jsize kCount = sizeof(fields) / sizeof(fields[0]);
    jobjectArray out = env->NewObjectArray(kCount, g_refs.string, nullptr);
    if (out == nullptr) return nullptr;
    for (jsize i = 0; i < kCount; ++i) {
      jstring s = NewJavaString(env, fields[i]);
      if (env->ExceptionCheck()) break;
      env->SetObjectArrayElement(out, i, s);
      if (s != nullptr) env->DeleteLocalRef(s);
      if (env->ExceptionCheck()) break;
    }
    if (env->ExceptionCheck()) {
      env->DeleteLocalRef(out);
      return nullptr;
    }
    return out;
  });
}

JNIEXPORT jstring JNICALL Java_com_modelota_Lease_nativeFindFile(JNIEnv* env, jclass, jlong handle,
                                                                 jstring relative_path) {
  return Guarded(env, jstring{nullptr}, [&]() -> jstring {
    const auto* lease = Handle<ota_lease>(env, handle, "lease");
    CString path;
    if (lease == nullptr || !path.Read(env, relative_path, "relativePath", true)) return nullptr;
    return NewJavaString(env, ota_lease_find_file(lease, path.get()));
  });
}

JNIEXPORT void JNICALL Java_com_modelota_Lease_nativeRelease(JNIEnv* env, jclass, jlong handle) {
  GuardedVoid(env, [&] { ota_lease_release(reinterpret_cast<ota_lease*>(handle)); });
}

}  // extern "C"
