"""The image being optimised: a Fourier-space parameterisation in a decorrelated colour space.

Naive ascent on pixels fills an image with high-frequency patterns: the gradient of a deep
network is itself mostly high frequency. Following Olah, Mordvintsev & Schubert (2017, Distill,
"Feature Visualization"), the optimiser works on the image's 2-D Fourier coefficients, each
scaled by 1/f (natural images' amplitude spectrum), so that a step of the same size moves low
frequencies as much as high ones; and on colours decorrelated by the square root of ImageNet's
colour covariance (its SVD), so that a step changes luminance and colour contrast evenly. A
sigmoid maps the result to 0-255 pixels, which the model's own preprocessing then sees.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# The square root of ImageNet's RGB covariance (columns: its principal directions scaled by
# the square roots of their variances), as published with lucid's reference implementation;
# normalised so that its largest column has unit norm.
_COLOR_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
COLOR_CORRELATION = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))
# The spectrum's starting amplitude: small, so the first image is a faint grey noise.
INITIAL_SD = 0.01
# irfft2d of a 1/f spectrum with unit coefficients has a standard deviation of a few units;
# dividing by this keeps the sigmoid out of saturation at the start (lucid's constant).
_SPATIAL_DIVISOR = 4.0


def spectrum_scale(size: int, decay: float = 1.0) -> np.ndarray:
    """(size, size//2+1) amplitude factors 1/f**decay, f the frequency in cycles per image,
    the zero frequency counted as 1/size, times size (so the inverse FFT's 1/N does not shrink
    the image as it grows)."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    frequency = np.sqrt(fx * fx + fy * fy)
    return (size / np.maximum(frequency, 1.0 / size) ** decay).astype(np.float32)


def initial_spectrum(batch: int, size: int, seed: int) -> np.ndarray:
    """(2, batch, 3, size, size//2+1): real and imaginary parts of the starting spectrum,
    seeded noise of standard deviation `INITIAL_SD`."""
    rng = np.random.default_rng(seed)
    shape = (2, batch, 3, size, size // 2 + 1)
    return (INITIAL_SD * rng.standard_normal(shape)).astype(np.float32)


def inverse_dft_matrices(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Real matrices that make `tf.signal.irfft2d` of (real, imag) parts: `rows` (2s, 2s) is
    the complex inverse DFT along y on the stacked parts, `columns` (2(s//2+1), s) the real
    inverse along x of the half spectrum (inner columns counted twice, for their conjugates)."""
    half = size // 2 + 1
    k = np.arange(size)
    along_y = np.exp(2j * np.pi * np.outer(k, k) / size) / size
    weight = np.full(half, 2.0)
    weight[0] = 1.0
    if size % 2 == 0:
        weight[-1] = 1.0
    along_x = weight[:, None] * np.exp(2j * np.pi * np.outer(np.arange(half), k) / size) / size
    rows = np.block([[along_y.real, -along_y.imag], [along_y.imag, along_y.real]])
    columns = np.concatenate([along_x.real, -along_x.imag])
    return rows.astype(np.float32), columns.astype(np.float32)


def inverse_dft(spectrum: tf.Tensor, rows: tf.Tensor, columns: tf.Tensor) -> tf.Tensor:
    """(batch, 3, size, size) real images of a (2, batch, 3, size, size//2+1) spectrum, as
    `tf.signal.irfft2d` computes them, but as two matrix products: on a CPU they and their
    gradients take about two thirds of the time of the FFT op and its gradient."""
    colours, size, half = (int(d) for d in spectrum.shape[2:])
    stacked = tf.reshape(tf.transpose(spectrum, (0, 3, 1, 2, 4)), (2 * size, -1))
    along_y = tf.reshape(rows @ stacked, (2, size, -1, half))  # (part, y, batch·colour, kx)
    parts = tf.reshape(tf.transpose(along_y, (2, 1, 0, 3)), (-1, 2 * half))
    return tf.reshape(parts @ columns, (-1, colours, size, size))


def spectrum_to_pixels(spectrum: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """(batch, size, size, 3) pixels in 0-255 of a spectrum made by `initial_spectrum`:
    inverse DFT of the 1/f-scaled coefficients, then decorrelated colours, then a sigmoid."""
    size = int(spectrum.shape[3])
    rows, columns = (tf.constant(m) for m in inverse_dft_matrices(size))
    decorrelated = inverse_dft(spectrum * (scale / _SPATIAL_DIVISOR), rows, columns)
    rgb = tf.einsum("bchw,rc->bhwr", decorrelated, tf.constant(COLOR_CORRELATION))
    return 255.0 * tf.sigmoid(rgb)
