// Style 1: N-API. `plain` = function on exports with no data; `method` = function with a data
// pointer (State*) installed on a plain object, called as obj.method(...).
#include <node_api.h>
#include "common.h"

static State g_state{1u << 20, 0};

// The method reads its State from the function's data; the plain function has none.
static napi_value Call(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  State* s = data != nullptr ? static_cast<State*>(data) : &g_state;
  double r = -EINVAL;
  if (argc >= 2) {
    double a, b;
    if (napi_get_value_double(env, argv[0], &a) == napi_ok && napi_get_value_double(env, argv[1], &b) == napi_ok)
      r = Op(s, a, b);
  }
  napi_value out;
  napi_create_double(env, r, &out);
  return out;
}

static napi_value Calls(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_double(env, (double)g_state.calls, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "plain", NAPI_AUTO_LENGTH, Call, nullptr, &fn);
  napi_set_named_property(env, exports, "plain", fn);
  napi_value obj;
  napi_create_object(env, &obj);
  napi_create_function(env, "method", NAPI_AUTO_LENGTH, Call, &g_state, &fn);
  napi_set_named_property(env, obj, "method", fn);
  napi_set_named_property(env, exports, "obj", obj);
  napi_create_function(env, "calls", NAPI_AUTO_LENGTH, Calls, nullptr, &fn);
  napi_set_named_property(env, exports, "calls", fn);
  return exports;
}
