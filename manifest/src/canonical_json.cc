#include "ota/manifest/canonical_json.h"

#include <algorithm>
#include <string>
#include <vector>

namespace ota::manifest {
namespace {

void AppendString(const std::string& s, std::string& out) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

Status Encode(const nlohmann::json& v, std::string& out) {
  using Type = nlohmann::json::value_t;
  switch (v.type()) {
    case Type::null:
      out += "null";
      return Ok();
    case Type::boolean:
      out += v.get<bool>() ? "true" : "false";
      return Ok();
    case Type::number_integer:
      out += std::to_string(v.get<std::int64_t>());
      return Ok();
    case Type::number_unsigned:
      out += std::to_string(v.get<std::uint64_t>());
      return Ok();
    case Type::number_float:
      return MakeError(ErrorCode::kInvalidArgument,
                       "canonical JSON has no floating-point numbers (found " + v.dump() + ")");
    case Type::string:
      AppendString(v.get_ref<const std::string&>(), out);
      return Ok();
    case Type::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v) {
        if (!first) out.push_back(',');
        first = false;
        OTA_TRY(Encode(item, out));
      }
      out.push_back(']');
      return Ok();
    }
    case Type::object: {
      // Sorted explicitly by bytes: the container's own order depends on the
      // json type in use (ordered_json keeps insertion order).
      std::vector<const std::string*> keys;
      keys.reserve(v.size());
      for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(&it.key());
      std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) {
        return std::lexicographical_compare(
            a->begin(), a->end(), b->begin(), b->end(), [](char x, char y) {
              return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
            });
      });
      out.push_back('{');
      bool first = true;
      for (const std::string* key : keys) {
        if (!first) out.push_back(',');
        first = false;
        AppendString(*key, out);
        out.push_back(':');
        OTA_TRY(Encode(v.at(*key), out));
      }
      out.push_back('}');
      return Ok();
    }
    case Type::binary:
    case Type::discarded:
      break;
  }
  return MakeError(ErrorCode::kInvalidArgument, "value has no canonical JSON form");
}

// Builds the document from SAX events so that duplicate keys and excessive
// nesting can be refused; nlohmann's DOM parser silently keeps the last
// duplicate.
class StrictBuilder : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit StrictBuilder(std::size_t max_depth) : max_depth_(max_depth) {}

  bool null() override { return Put(nullptr); }
  bool boolean(bool val) override { return Put(val); }
  bool number_integer(number_integer_t val) override { return Put(val); }
  bool number_unsigned(number_unsigned_t val) override { return Put(val); }
  bool number_float(number_float_t val, const string_t&) override { return Put(val); }
  bool string(string_t& val) override { return Put(std::move(val)); }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }

  bool start_object(std::size_t) override { return Open(nlohmann::json::object()); }
  bool key(string_t& val) override {
    nlohmann::json& obj = *stack_.back();
    if (obj.contains(val)) return Fail("duplicate key \"" + val + "\"");
    pending_key_ = std::move(val);
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return Open(nlohmann::json::array()); }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    if (error_.empty()) {
      error_ = "invalid JSON at byte " + std::to_string(position) + ": " + ex.what();
    }
    return false;
  }

  nlohmann::json& root() { return root_; }
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  // Stores a value at the current position and returns where it lives.
  nlohmann::json* Place(nlohmann::json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    nlohmann::json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    nlohmann::json& slot = parent[pending_key_];
    slot = std::move(value);
    return &slot;
  }

  bool Put(nlohmann::json value) {
    Place(std::move(value));
    return true;
  }

  bool Open(nlohmann::json container) {
    if (stack_.size() >= max_depth_) {
      return Fail("JSON nesting deeper than " + std::to_string(max_depth_) + " levels");
    }
    stack_.push_back(Place(std::move(container)));
    return true;
  }

  std::size_t max_depth_;
  nlohmann::json root_;
  // Open containers, innermost last. The pointers stay valid because a
  // container only grows while it is the innermost one: an array may
  // reallocate, but only after the child it moved has been closed.
  std::vector<nlohmann::json*> stack_;
  std::string pending_key_;
  std::string error_;
};

}  // namespace

Result<std::string> CanonicalJson(const nlohmann::json& value) {
  std::string out;
  OTA_TRY(Encode(value, out));
  return out;
}

Result<nlohmann::json> ParseJsonStrict(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "JSON document of " + std::to_string(text.size()) +
                         " bytes exceeds the limit of " + std::to_string(limits.max_bytes));
  }
  StrictBuilder builder(limits.max_depth);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInvalidArgument, std::string("invalid JSON: ") + e.what());
  }
  if (!ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     builder.error().empty() ? "invalid JSON" : builder.error());
  }
  return std::move(builder.root());
}

Result<std::string> DeviceFactsSigningBytes(const std::string& device_id,
                                            const nlohmann::json& facts) {
  return CanonicalJson(nlohmann::json{
      {"device_id", device_id}, {"facts", facts}, {"type", "modelota-device-facts"}});
}

}  // namespace ota::manifest
