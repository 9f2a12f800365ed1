// Gradient checkpointing per decoder layer. LibTorch 1.13's C++ API has no
// torch.utils.checkpoint, so this is a custom autograd Function:
//   forward:  runs the layer under no-grad (no activations kept), saves its input and,
//             while training, the CPU generator state (LoRA dropout draws from it);
//   backward: restores that generator state, recomputes the layer with grad enabled (and
//             the same autocast setting), and returns d(input) and d(parameters) via
//             autograd::grad, so the outer engine accumulates the parameter gradients.
// The layer's trainable parameters are inputs of the Function: the output then requires
// grad even when the layer input does not (LoRA on a frozen embedding), and their
// gradients flow back the ordinary way.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/model/decoder.h"
#include "core/model/precision.h"

namespace rexdrug::model {

namespace {

at::Tensor generator_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(const at::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace

struct Decoder::CheckpointedBlock : torch::autograd::Function<CheckpointedBlock> {
  // Inputs in order: self, layer, h, cos, sin, allowed, params... (one gradient each).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, Decoder* self, int64_t layer,
                               const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                               const torch::Tensor& allowed, at::TensorList params) {
    // The decoder outlives its backward pass (it owns the parameters being trained), so a
    // raw pointer in the context is safe; IValue has no pointer type, hence the integer.
    ctx->saved_data["self"] = reinterpret_cast<int64_t>(self);
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["num_params"] = int64_t(params.size());
    ctx->saved_data["autocast"] = at::autocast::is_cpu_enabled() || at::autocast::is_enabled();
    if (self->is_training()) ctx->saved_data["rng"] = generator_state();
    ctx->save_for_backward({h, cos, sin, allowed});
    torch::NoGradGuard no_grad;  // apply() already disables grad; explicit for the reader
    return self->block_forward(size_t(layer), h, cos, sin, allowed, nullptr);  // (B, T, C)
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto* self = reinterpret_cast<Decoder*>(ctx->saved_data["self"].toInt());
    const size_t layer = size_t(ctx->saved_data["layer"].toInt());
    const int64_t num_params = ctx->saved_data["num_params"].toInt();
    const auto saved = ctx->get_saved_variables();
    torch::Tensor x = saved[0].detach().requires_grad_(true);  // (B, T, C)

    // Inputs to differentiate: the layer input and its trainable parameters (the same
    // set, in the same order, as passed to forward).
    std::vector<torch::Tensor> wrt = {x};
    for (const auto& p : self->layer_trainable_parameters(layer)) wrt.push_back(p);
    TORCH_CHECK(int64_t(wrt.size()) == num_params + 1, "checkpointing: parameter set changed since forward");

    torch::Tensor out;
    {
      const bool has_rng = ctx->saved_data.find("rng") != ctx->saved_data.end();
      at::Tensor now;
      if (has_rng) {
        now = generator_state();
        set_generator_state(ctx->saved_data["rng"].toTensor());
      }
      torch::AutoGradMode grad(true);
      AutocastGuard autocast(self->device(), ctx->saved_data["autocast"].toBool());
      out = self->block_forward(layer, x, saved[1], saved[2], saved[3], nullptr);  // (B, T, C)
      if (has_rng) set_generator_state(now);  // the caller's stream continues unchanged
    }
    std::vector<torch::Tensor> grads =
        torch::autograd::grad({out}, wrt, {grad_out[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                              /*allow_unused=*/true);
    // One entry per forward input: self, layer, h, cos, sin, allowed, params...
    torch::autograd::variable_list result = {torch::Tensor(), torch::Tensor(), grads[0],
                                             torch::Tensor(), torch::Tensor(), torch::Tensor()};
    for (size_t i = 1; i < grads.size(); ++i) result.push_back(grads[i]);
    return result;
  }
};

torch::Tensor Decoder::checkpointed_block_forward(size_t layer, const torch::Tensor& h, const torch::Tensor& cos,
                                                  const torch::Tensor& sin, const torch::Tensor& allowed) {
  const std::vector<torch::Tensor> params = layer_trainable_parameters(layer);
  return CheckpointedBlock::apply(this, int64_t(layer), h, cos, sin, allowed, at::TensorList(params));
}

}  // namespace rexdrug::model
