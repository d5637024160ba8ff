#include "aws/model.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "aws/embedded_models.h"

namespace ferry::aws {

namespace json = boost::json;

namespace {

using ParseResult = base::Result<base::Ok, std::string>;

std::optional<ShapeType> shape_type(std::string_view t) {
  if (t == "structure") return ShapeType::kStructure;
  if (t == "list") return ShapeType::kList;
  if (t == "map") return ShapeType::kMap;
  if (t == "string") return ShapeType::kString;
  if (t == "integer") return ShapeType::kInteger;
  if (t == "long") return ShapeType::kLong;
  if (t == "float") return ShapeType::kFloat;
  if (t == "double") return ShapeType::kDouble;
  if (t == "boolean") return ShapeType::kBoolean;
  if (t == "blob") return ShapeType::kBlob;
  if (t == "timestamp") return ShapeType::kTimestamp;
  return std::nullopt;
}

std::string_view str(const json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_string()) return v->get_string();
  return {};
}

bool flag(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

std::optional<double> number(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

const json::object* object_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

}  // namespace

std::string_view to_string(ShapeType type) {
  switch (type) {
    case ShapeType::kStructure:
      return "structure";
    case ShapeType::kList:
      return "list";
    case ShapeType::kMap:
      return "map";
    case ShapeType::kString:
      return "string";
    case ShapeType::kInteger:
      return "integer";
    case ShapeType::kLong:
      return "long";
    case ShapeType::kFloat:
      return "float";
    case ShapeType::kDouble:
      return "double";
    case ShapeType::kBoolean:
      return "boolean";
    case ShapeType::kBlob:
      return "blob";
    case ShapeType::kTimestamp:
      return "timestamp";
  }
  return "?";
}

bool MemberRef::is_flattened() const { return flattened || (shape != nullptr && shape->flattened); }

std::string_view MemberRef::location() const {
  if (!location_name.empty()) return location_name;
  if (shape != nullptr) return shape->location_name;
  return {};
}

std::string_view MemberRef::query_name() const {
  if (shape != nullptr && shape->type == ShapeType::kList && is_flattened() &&
      !shape->member.location().empty()) {
    return shape->member.location();
  }
  if (!location().empty()) return location();
  return name;
}

const MemberRef* Shape::find_member(std::string_view member_name) const {
  for (const auto& m : members) {
    if (m.name == member_name) return &m;
  }
  return nullptr;
}

base::Result<std::unique_ptr<ServiceModel>, std::string> ServiceModel::parse(
    std::string_view service, std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return base::fail("model is not JSON: " + ec.message());
  if (!doc.is_object()) return base::fail(std::string("model is not a JSON object"));
  const json::object& root = doc.get_object();
  const json::object* meta = object_at(root, "metadata");
  const json::object* ops = object_at(root, "operations");
  const json::object* shapes = object_at(root, "shapes");
  if (meta == nullptr || ops == nullptr || shapes == nullptr) {
    return base::fail(std::string("model lacks metadata, operations or shapes"));
  }

  std::unique_ptr<ServiceModel> m(new ServiceModel());
  m->service_ = std::string(service);
  m->api_version_ = std::string(str(*meta, "apiVersion"));
  m->protocol_ = std::string(str(*meta, "protocol"));
  if (const auto* p = meta->if_contains("protocols"); p != nullptr && p->is_array()) {
    for (const auto& v : p->get_array()) {
      if (v.is_string()) m->protocols_.emplace_back(v.get_string());
    }
  }
  if (m->protocols_.empty() && !m->protocol_.empty()) m->protocols_.push_back(m->protocol_);
  m->json_version_ = std::string(str(*meta, "jsonVersion"));
  m->target_prefix_ = std::string(str(*meta, "targetPrefix"));
  m->xml_namespace_ = std::string(str(*meta, "xmlNamespace"));
  m->aws_query_compatible_ = meta->contains("awsQueryCompatible");

  // Two passes: create every shape, then resolve references between them.
  for (const auto& [name, value] : *shapes) {
    if (!value.is_object()) return base::fail("shape " + std::string(name) + " is not an object");
    auto type = shape_type(str(value.get_object(), "type"));
    if (!type) return base::fail("shape " + std::string(name) + " has an unknown type");
    auto shape = std::make_unique<Shape>();
    shape->name = std::string(name);
    shape->type = *type;
    m->shapes_.emplace(std::string(name), std::move(shape));
  }

  auto resolve = [&](const json::object& ref, MemberRef& out,
                     std::string_view where) -> ParseResult {
    auto target = str(ref, "shape");
    const Shape* s = m->shape(target);
    if (s == nullptr) {
      return base::fail(std::string(where) + " refers to unknown shape " + std::string(target));
    }
    out.shape = s;
    out.location_name = std::string(str(ref, "locationName"));
    out.flattened = flag(ref, "flattened");
    return base::Ok{};
  };

  for (const auto& [name, value] : *shapes) {
    const json::object& def = value.get_object();
    Shape& shape = *m->shapes_.find(std::string_view(name))->second;
    shape.flattened = flag(def, "flattened");
    shape.location_name = std::string(str(def, "locationName"));
    shape.min = number(def, "min");
    shape.max = number(def, "max");
    if (const auto* e = def.if_contains("enum"); e != nullptr && e->is_array()) {
      for (const auto& v : e->get_array()) {
        if (v.is_string()) shape.enum_values.emplace_back(v.get_string());
      }
    }
    std::string where = "shape " + std::string(name);
    switch (shape.type) {
      case ShapeType::kStructure: {
        const json::object* members = object_at(def, "members");
        if (members != nullptr) {
          for (const auto& [mname, mref] : *members) {
            if (!mref.is_object()) return base::fail(where + " has a malformed member");
            MemberRef member;
            member.name = std::string(mname);
            if (auto r = resolve(mref.get_object(), member, where); !r)
              return base::fail(r.error());
            shape.members.push_back(std::move(member));
          }
        }
        if (const auto* req = def.if_contains("required"); req != nullptr && req->is_array()) {
          for (const auto& r : req->get_array()) {
            if (!r.is_string()) continue;
            auto it = std::find_if(shape.members.begin(), shape.members.end(),
                                   [&](const MemberRef& mr) { return mr.name == r.get_string(); });
            if (it == shape.members.end()) {
              return base::fail(where + " requires unknown member " + std::string(r.get_string()));
            }
            if (!it->required) ++shape.required_count;
            it->required = true;
          }
        }
        break;
      }
      case ShapeType::kList: {
        const json::object* member = object_at(def, "member");
        if (member == nullptr) return base::fail(where + " has no member");
        if (auto r = resolve(*member, shape.member, where); !r) return base::fail(r.error());
        break;
      }
      case ShapeType::kMap: {
        const json::object* key = object_at(def, "key");
        const json::object* val = object_at(def, "value");
        if (key == nullptr || val == nullptr) return base::fail(where + " has no key or value");
        if (auto r = resolve(*key, shape.key, where); !r) return base::fail(r.error());
        if (auto r = resolve(*val, shape.value, where); !r) return base::fail(r.error());
        break;
      }
      default:
        break;
    }
    if (const json::object* err = object_at(def, "error"); err != nullptr) {
      ErrorShape e;
      e.name = shape.name;
      e.code = std::string(str(*err, "code"));
      if (e.code.empty()) e.code = shape.name;
      e.sender_fault = !err->contains("senderFault") || flag(*err, "senderFault");
      auto status = number(*err, "httpStatusCode");
      e.http_status = status ? static_cast<int>(*status) : (e.sender_fault ? 400 : 500);
      shape.error = std::move(e);
    }
  }
  for (const auto& [name, shape] : m->shapes_) {
    if (shape->error) m->errors_by_code_.emplace(shape->error->code, &*shape->error);
  }

  for (const auto& [name, value] : *ops) {
    if (!value.is_object()) return base::fail("operation " + std::string(name) + " is malformed");
    const json::object& def = value.get_object();
    Operation op;
    op.name = std::string(name);
    std::string where = "operation " + op.name;
    if (const json::object* in = object_at(def, "input"); in != nullptr) {
      op.input = m->shape(str(*in, "shape"));
      if (op.input == nullptr) return base::fail(where + " has an unknown input shape");
    }
    if (const json::object* out = object_at(def, "output"); out != nullptr) {
      op.output = m->shape(str(*out, "shape"));
      if (op.output == nullptr) return base::fail(where + " has an unknown output shape");
      op.result_wrapper = std::string(str(*out, "resultWrapper"));
    }
    if (const auto* errs = def.if_contains("errors"); errs != nullptr && errs->is_array()) {
      for (const auto& e : errs->get_array()) {
        if (!e.is_string()) continue;
        const ErrorShape* es = m->error_by_name(e.get_string());
        if (es == nullptr) {
          return base::fail(where + " lists unknown error " + std::string(e.get_string()));
        }
        op.errors.push_back(es);
      }
    }
    m->operation_names_.push_back(op.name);
    m->operations_.emplace(op.name, std::move(op));
  }
  std::sort(m->operation_names_.begin(), m->operation_names_.end());
  return m;
}

const ServiceModel* ServiceModel::find(std::string_view service) {
  // Built on first use, kept for the life of the process. Guarded by a mutex rather than a
  // function-local static per service so that new services need no code here.
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<ServiceModel>, std::less<>> models;
  std::lock_guard lock(mu);
  if (auto it = models.find(service); it != models.end()) return it->second.get();
  std::string_view text = embedded_model_json(service);
  if (text.empty()) return nullptr;
  auto parsed = parse(service, text);
  if (!parsed) {
    std::fprintf(stderr, "ferry: embedded %.*s model is broken: %s\n",
                 static_cast<int>(service.size()), service.data(), parsed.error().c_str());
    std::abort();
  }
  const ServiceModel* model = parsed.value().get();
  models.emplace(std::string(service), std::move(parsed.value()));
  return model;
}

const ServiceModel& ServiceModel::get(std::string_view service) {
  const ServiceModel* model = find(service);
  if (model == nullptr) {
    std::fprintf(stderr, "ferry: no embedded model for service %.*s\n",
                 static_cast<int>(service.size()), service.data());
    std::abort();
  }
  return *model;
}

const Operation* ServiceModel::operation(std::string_view name) const {
  auto it = operations_.find(name);
  return it == operations_.end() ? nullptr : &it->second;
}

const Shape* ServiceModel::shape(std::string_view name) const {
  auto it = shapes_.find(name);
  return it == shapes_.end() ? nullptr : it->second.get();
}

const ErrorShape* ServiceModel::error_by_name(std::string_view name) const {
  const Shape* s = shape(name);
  return s != nullptr && s->error ? &*s->error : nullptr;
}

const ErrorShape* ServiceModel::error_by_code(std::string_view code) const {
  auto it = errors_by_code_.find(code);
  return it == errors_by_code_.end() ? nullptr : it->second;
}

}  // namespace ferry::aws
