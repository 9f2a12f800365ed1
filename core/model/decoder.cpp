#include "core/model/decoder.h"

#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "core/io/safetensors.h"
#include "core/model/precision.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"

namespace rexdrug::model {

// ---- modules (names are the HF ones) ------------------------------------------------

namespace {

struct Attention : torch::nn::Module {
  Attention(const ModelConfig& c, const torch::TensorOptions& o) {
    q_proj = register_module("q_proj", Proj(c.hidden_size, c.q_dim(), c.attention_bias, o));
    k_proj = register_module("k_proj", Proj(c.hidden_size, c.kv_dim(), c.attention_bias, o));
    v_proj = register_module("v_proj", Proj(c.hidden_size, c.kv_dim(), c.attention_bias, o));
    o_proj = register_module("o_proj", Proj(c.q_dim(), c.hidden_size, c.o_proj_bias, o));
  }
  Proj q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};

struct Mlp : torch::nn::Module {
  Mlp(const ModelConfig& c, const torch::TensorOptions& o) {
    gate_proj = register_module("gate_proj", Proj(c.hidden_size, c.intermediate_size, c.mlp_bias, o));
    up_proj = register_module("up_proj", Proj(c.hidden_size, c.intermediate_size, c.mlp_bias, o));
    down_proj = register_module("down_proj", Proj(c.intermediate_size, c.hidden_size, c.mlp_bias, o));
  }
  // SwiGLU: down(silu(gate(x)) * up(x)), (..., C) -> (..., C)
  torch::Tensor forward(const torch::Tensor& x) {
    return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
  }
  Proj gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};

// Rotates the two halves of the head dimension (HF "rotate_half" layout):
// x (B, heads, T, D), cos/sin (B, 1, T, D/2) -> (B, heads, T, D).
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

}  // namespace

struct Decoder::Block : torch::nn::Module {
  Block(const ModelConfig& c, const torch::TensorOptions& o) {
    self_attn = register_module("self_attn", std::make_shared<Attention>(c, o));
    mlp = register_module("mlp", std::make_shared<Mlp>(c, o));
    input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, o));
    post_attention_layernorm =
        register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, o));
  }
  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<Mlp> mlp;
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};

// ---- KV cache ---------------------------------------------------------------------

void KVCache::repeat_rows(int64_t n) {
  if (n == 1 || !valid.defined()) return;
  torch::Tensor rows = torch::arange(batch(), torch::dtype(torch::kLong).device(valid.device()))
                           .repeat_interleave(n);  // (B*n)
  keep_rows(rows);
}

void KVCache::keep_rows(const torch::Tensor& rows) {
  torch::Tensor r = rows.to(valid.device(), torch::kLong);
  for (auto& t : k) if (t.defined()) t = t.index_select(0, r);
  for (auto& t : v) if (t.defined()) t = t.index_select(0, r);
  valid = valid.index_select(0, r);
  next_position = next_position.index_select(0, r);
}

// ---- decoder ----------------------------------------------------------------------

torch::Tensor rotary_inv_freq(const ModelConfig& c) {
  const int64_t d = c.head_dim;
  // inv_freq_i = theta^(-2i/d), i = 0 .. d/2-1 (computed in double, stored fp32)
  torch::Tensor inv = 1.0 / torch::pow(c.rope_theta,
                                       torch::arange(0, d, 2, torch::kFloat64) / double(d));
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "linear") {
    inv = inv / s.factor;
  } else if (s.type == "llama3") {
    // Llama 3.1: long wavelengths divided by factor, short kept, a smooth blend between.
    const double old_len = double(s.original_max_position_embeddings);
    const double low_wavelen = old_len / s.low_freq_factor;
    const double high_wavelen = old_len / s.high_freq_factor;
    torch::Tensor wavelen = 2 * M_PI / inv;
    torch::Tensor scaled = torch::where(wavelen > low_wavelen, inv / s.factor, inv);
    torch::Tensor smooth = (old_len / wavelen - s.low_freq_factor) /
                           (s.high_freq_factor - s.low_freq_factor);
    torch::Tensor blended = (1 - smooth) * scaled / s.factor + smooth * scaled;
    torch::Tensor medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen);
    inv = torch::where(medium, blended, scaled);
  }
  return inv.to(torch::kFloat32);
}

Decoder::Decoder(const ModelConfig& c, const torch::TensorOptions& opts) : config_(c) {
  body_ = register_module("model", std::make_shared<torch::nn::Module>());
  embed_tokens_ = body_->register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size, opts));
  auto layers = body_->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    blocks_.push_back(std::make_shared<Block>(c, opts));
    layers->push_back(blocks_.back());
  }
  norm_ = body_->register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, opts));
  if (!c.tie_word_embeddings)
    lm_head_ = register_module("lm_head", Proj(c.hidden_size, c.vocab_size, false, opts));
  inv_freq_ = rotary_inv_freq(c);  // plain member: module->to(dtype) must not round it
}

torch::Device Decoder::device() const { return embed_tokens_->weight.device(); }
torch::ScalarType Decoder::dtype() const { return embed_tokens_->weight.scalar_type(); }

torch::Tensor Decoder::block_forward(size_t layer, torch::Tensor h, const torch::Tensor& cos,
                                     const torch::Tensor& sin, const torch::Tensor& allowed,
                                     KVCache* cache) {
  Block& blk = *blocks_[layer];
  Attention& at = *blk.self_attn;
  const int64_t B = h.size(0), T = h.size(1);
  const int64_t H = config_.num_attention_heads, KV = config_.num_key_value_heads;
  const int64_t D = config_.head_dim, G = H / KV;

  torch::Tensor x = blk.input_layernorm(h);                           // (B, T, C)
  torch::Tensor q = at.q_proj(x).view({B, T, H, D}).transpose(1, 2);   // (B, H, T, D)
  torch::Tensor k = at.k_proj(x).view({B, T, KV, D}).transpose(1, 2);  // (B, KV, T, D)
  torch::Tensor v = at.v_proj(x).view({B, T, KV, D}).transpose(1, 2);  // (B, KV, T, D)
  q = apply_rotary(q, cos.to(q.scalar_type()), sin.to(q.scalar_type()));
  k = apply_rotary(k, cos.to(k.scalar_type()), sin.to(k.scalar_type()));

  if (cache) {
    torch::Tensor& ck = cache->k[layer];
    torch::Tensor& cv = cache->v[layer];
    if (!ck.defined()) {  // allocated on first use, in the dtype compute produces
      ck = torch::zeros({B, KV, cache->capacity, D}, k.options());
      cv = torch::zeros({B, KV, cache->capacity, D}, v.options());
    }
    ck.narrow(2, cache->length, T).copy_(k);
    cv.narrow(2, cache->length, T).copy_(v);
    k = ck.narrow(2, 0, cache->length + T);  // (B, KV, S, D)
    v = cv.narrow(2, 0, cache->length + T);
  }
  const int64_t S = k.size(2);

  // Query heads grouped by the KV head they share (HF repeat_kv order): no K/V copies.
  q = (q * (1.0 / std::sqrt(double(D)))).reshape({B, KV, G * T, D});    // (B, KV, G*T, D)
  torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2));          // (B, KV, G*T, S)
  scores = scores.to(torch::kFloat32).view({B, KV, G, T, S});
  // A finite fill keeps all-padding query rows NaN-free (their output is never used).
  scores = scores.masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest());
  torch::Tensor probs = torch::softmax(scores, -1).to(v.scalar_type());   // (B, KV, G, T, S)
  torch::Tensor out = torch::matmul(probs.view({B, KV, G * T, S}), v);    // (B, KV, G*T, D)
  out = out.view({B, H, T, D}).transpose(1, 2).reshape({B, T, H * D});   // (B, T, H*D)
  h = h + residual_dropout(at.o_proj(out));

  return h + residual_dropout(blk.mlp->forward(blk.post_attention_layernorm(h)));  // (B, T, C)
}

void Decoder::set_residual_dropout(double p) {
  if (!(p >= 0.0 && p < 1.0)) throw Error("residual dropout must be in [0, 1), got " + std::to_string(p));
  residual_dropout_ = p;
}

torch::Tensor Decoder::residual_dropout(const torch::Tensor& x) const {
  if (residual_dropout_ == 0.0 || !is_training()) return x;
  return torch::dropout(x, residual_dropout_, /*train=*/true);
}

std::vector<torch::Tensor> Decoder::layer_trainable_parameters(size_t layer) const {
  std::vector<torch::Tensor> out;
  for (const auto& p : blocks_[layer]->parameters(true))
    if (p.requires_grad()) out.push_back(p);
  return out;
}

torch::Tensor Decoder::forward(const torch::Tensor& ids, const torch::Tensor& mask,
                               KVCache* cache, bool last_only) {
  torch::Tensor h = hidden(ids, mask, cache);  // (B, T, C)
  if (last_only) h = h.narrow(1, h.size(1) - 1, 1);  // (B, 1, C)
  return head(h);  // (B, T, V)
}

torch::Tensor Decoder::head(const torch::Tensor& h) {
  AutocastGuard autocast(device(), autocast_);
  torch::Tensor x = norm_(h);
  torch::Tensor logits = lm_head_ ? lm_head_(x) : torch::linear(x, embed_tokens_->weight);
  return logits.to(torch::kFloat32);  // (..., V)
}

torch::Tensor Decoder::hidden(const torch::Tensor& ids, const torch::Tensor& mask, KVCache* cache) {
  AutocastGuard autocast(device(), autocast_);
  const torch::Device dev = device();
  const int64_t B = ids.size(0), T = ids.size(1);
  torch::Tensor tokens = ids.to(dev, torch::kLong);                                // (B, T)
  torch::Tensor valid = mask.defined() ? mask.to(dev).to(torch::kBool)
                                       : torch::ones({B, T}, torch::dtype(torch::kBool).device(dev));
  const int64_t start = cache ? cache->length : 0;
  if (cache) {
    if (start + T > cache->capacity) throw Error("KV cache full: capacity " + std::to_string(cache->capacity));
    if (!cache->valid.defined()) {
      cache->k.assign(config_.num_hidden_layers, {});
      cache->v.assign(config_.num_hidden_layers, {});
      cache->valid = torch::zeros({B, cache->capacity}, torch::dtype(torch::kBool).device(dev));
      cache->next_position = torch::zeros({B}, torch::dtype(torch::kLong).device(dev));
    }
    if (cache->batch() != B) throw Error("KV cache holds a different batch size");
    cache->valid.narrow(1, start, T).copy_(valid);
  }
  // Positions count real tokens; padding slots get a harmless clamped position.
  torch::Tensor first = cache ? cache->next_position : torch::zeros({B}, tokens.options());
  torch::Tensor positions =
      (first.unsqueeze(1) + valid.to(torch::kLong).cumsum(1) - 1).clamp_min(0);  // (B, T)
  torch::Tensor key_valid = cache ? cache->valid.narrow(1, 0, start + T) : valid;  // (B, S)
  const int64_t S = start + T;
  // Query i (slot start+i) may see key slot j when j <= start+i and j holds a token.
  torch::Tensor causal = torch::arange(S, tokens.options()).unsqueeze(0) <=
                         torch::arange(start, S, tokens.options()).unsqueeze(1);  // (T, S)
  torch::Tensor allowed = (causal.unsqueeze(0) & key_valid.unsqueeze(1))
                              .view({B, 1, 1, T, S});                              // (B,1,1,T,S)

  torch::Tensor angles = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq_.to(dev);  // (B, T, D/2)
  torch::Tensor cos = angles.cos().unsqueeze(1), sin = angles.sin().unsqueeze(1);  // (B,1,T,D/2)

  torch::Tensor h = embed_tokens_(tokens);  // (B, T, C)
  const bool recompute = checkpointing_ && !cache && is_training() && torch::GradMode::is_enabled();
  for (size_t l = 0; l < blocks_.size(); ++l)
    h = recompute ? checkpointed_block_forward(l, h, cos, sin, allowed)
                  : block_forward(l, h, cos, sin, allowed, cache);
  if (cache) {
    cache->length += T;
    cache->next_position = first + valid.to(torch::kLong).sum(1);
  }
  return h;  // (B, T, C)
}

std::vector<std::pair<std::string, torch::Tensor>> Decoder::weights() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : named_parameters(true))
    if (p.key().find(".lora_") == std::string::npos) out.emplace_back(p.key(), p.value());
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<ProjImpl>>> Decoder::projections() const {
  std::vector<std::pair<std::string, std::shared_ptr<ProjImpl>>> out;
  for (const auto& m : named_modules("", false)) {
    const std::string& name = m.key();
    if (name.find(".lora_") != std::string::npos || name == "lm_head") continue;
    if (auto p = std::dynamic_pointer_cast<ProjImpl>(m.value())) out.emplace_back(name, p);
  }
  return out;
}

// ---- create / load / save ---------------------------------------------------------

std::shared_ptr<Decoder> create_decoder(const ModelConfig& config, uint64_t seed,
                                        torch::ScalarType dtype, torch::Device device) {
  auto model = std::make_shared<Decoder>(config, torch::dtype(torch::kFloat32));
  // Filled on the CPU in a fixed order from one generator: identical on every device.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters(true)) {
    const std::string& name = p.key();
    torch::Tensor t = p.value();
    if (name.find("norm.weight") != std::string::npos) t.fill_(1.0);
    else if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) t.zero_();
    else t.normal_(0.0, 0.02, gen);
  }
  model->to(device, dtype);
  return model;
}

namespace {

bool is_float_dtype(const std::string& d) {
  return d == "F32" || d == "F16" || d == "BF16" || d == "F64";
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// Legacy buffers some exports carry; not weights.
bool ignorable(const std::string& name) {
  return name.find("rotary_emb.inv_freq") != std::string::npos;
}

}  // namespace

std::shared_ptr<Decoder> load_decoder(const std::string& dir, torch::ScalarType dtype,
                                      torch::Device device) {
  ModelConfig config = load_config(dir);
  io::Checkpoint ckpt(dir);
  auto model = std::make_shared<Decoder>(config, torch::dtype(dtype).device(device));
  std::vector<std::string> missing, unexpected, bad;
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : model->weights()) {
    expected.insert(name);
    if (!ckpt.contains(name)) { missing.push_back(name); continue; }
    const io::TensorInfo& info = ckpt.info(name);
    if (info.shape != tensor.sizes().vec()) {
      bad.push_back(name + " has shape " + shape_str(info.shape) + ", expected " +
                    shape_str(tensor.sizes().vec()));
    } else if (!is_float_dtype(info.dtype)) {
      bad.push_back(name + " has dtype " + info.dtype + ", expected a float type");
    }
  }
  for (const std::string& name : ckpt.names()) {
    if (expected.count(name) || ignorable(name)) continue;
    if (name == "lm_head.weight" && config.tie_word_embeddings) {
      log::warn(dir + ": lm_head.weight ignored (tie_word_embeddings is true)");
      continue;
    }
    unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !bad.empty()) {
    std::ostringstream msg;
    msg << dir << ": checkpoint does not match config.json";
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      msg << "; " << what << " (" << v.size() << "): ";
      for (size_t i = 0; i < v.size() && i < 8; ++i) msg << (i ? ", " : "") << v[i];
      if (v.size() > 8) msg << ", ...";
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("mismatched", bad);
    throw Error(msg.str());
  }
  for (auto& [name, tensor] : model->weights()) ckpt.load_into(name, tensor);
  return model;
}

void save_decoder(const Decoder& model, const std::string& dir) {
  ModelConfig config = model.config();
  config.torch_dtype = dtype_to_string(model.dtype());
  // config.json goes into the same atomic folder swap as the weights.
  io::save_checkpoint(dir, model.weights(), io::kDefaultShardBytes,
                      {{"config.json", config_to_json(config).dump(2) + "\n"}});
}

}  // namespace rexdrug::model
