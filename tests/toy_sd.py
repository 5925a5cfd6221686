"""Tiny SD1- and SDXL-shaped modules whose class and attribute names match what LyCORIS presets
target, so the real library wraps them as it would wrap sd-scripts' UNet and text encoder."""

from __future__ import annotations

import torch
from torch import nn

C = 64


class CrossAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.to_q, self.to_k, self.to_v = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.to_out = nn.ModuleList([nn.Linear(C, C)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = torch.softmax(self.to_q(x) @ self.to_k(x).transpose(1, 2) / C**0.5, dim=-1)
        return self.to_out[0](attn @ self.to_v(x))


class FeedForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.ModuleList([nn.Linear(C, C * 2), nn.GELU(), nn.Linear(C * 2, C)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class Transformer2DModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj_in = nn.Conv2d(C, C, 1)
        self.attn1 = CrossAttention()
        self.ff = FeedForward()
        self.proj_out = nn.Conv2d(C, C, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.proj_in(x).flatten(2).transpose(1, 2)
        y = y + self.attn1(y)
        y = y + self.ff(y)
        return x + self.proj_out(y.transpose(1, 2).reshape(b, c, h, w))


class ResnetBlock2D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, C)
        self.conv1 = nn.Conv2d(C, C, 3, padding=1)
        self.time_emb_proj = nn.Linear(C, C)
        self.conv2 = nn.Conv2d(C, C, 3, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        y = self.conv1(torch.nn.functional.silu(self.norm1(x))) + self.time_emb_proj(emb)[:, :, None, None]
        return x + self.conv2(torch.nn.functional.silu(y))


class Downsample2D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C, C, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C, C, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.nn.functional.interpolate(x, scale_factor=2.0))


class TimestepEmbedding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(C, C), nn.Linear(C, C)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.linear_2(torch.nn.functional.silu(self.linear_1(t)))


class ToyUNet(nn.Module):
    """SD1-shaped: a TimestepEmbedding class at `time_embedding` (what trips lycoris-lora 4.x);
    SDXL-shaped: a plain Sequential time embedding and no conv_in/conv_out names."""

    def __init__(self, sdxl: bool = False) -> None:
        super().__init__()
        self.sdxl = sdxl
        if sdxl:
            self.time_embed = nn.Sequential(nn.Linear(C, C), nn.SiLU(), nn.Linear(C, C))
            self.input_conv = nn.Conv2d(4, C, 3, padding=1)
            self.output_conv = nn.Conv2d(C, 4, 3, padding=1)
        else:
            self.time_embedding = TimestepEmbedding()
            self.conv_in = nn.Conv2d(4, C, 3, padding=1)
            self.conv_out = nn.Conv2d(C, 4, 3, padding=1)
        self.resnet = ResnetBlock2D()
        self.transformer = Transformer2DModel()
        self.down = Downsample2D()
        self.up = Upsample2D()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_embed(t) if self.sdxl else self.time_embedding(t)
        h = self.input_conv(x) if self.sdxl else self.conv_in(x)
        h = self.transformer(self.resnet(h, emb))
        h = self.up(self.down(h))
        return self.output_conv(h) if self.sdxl else self.conv_out(h)


class CLIPAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(C, C) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = torch.softmax(self.q_proj(x) @ self.k_proj(x).transpose(1, 2) / C**0.5, dim=-1)
        return self.out_proj(attn @ self.v_proj(x))


class CLIPMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(C, C * 2), nn.Linear(C * 2, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


class ToyTextEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.self_attn = CLIPAttention()
        self.mlp = CLIPMLP()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(x)
        return x + self.mlp(x)
