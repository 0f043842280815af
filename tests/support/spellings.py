"""Correct spellings of the lab's model: each builds the same computation and must pass."""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf

ACTIVATIONS = {  # name -> (relu, softmax)
    "strings": ("relu", "softmax"),
    "tf_nn": (tf.nn.relu, tf.nn.softmax),  # the C1_W2 lab's spelling
    "tf_keras_activations": (tf.keras.activations.relu, tf.keras.activations.softmax),
    "keras_activations": (keras.activations.relu, keras.activations.softmax),
    "keras_ops": (keras.ops.relu, keras.ops.softmax),
}


def sequential(relu, softmax, ns=tf.keras):
    L = ns.layers
    return ns.models.Sequential(
        [
            ns.Input(shape=(28, 28, 1)),
            L.Conv2D(32, (3, 3), activation=relu),
            L.MaxPooling2D(2, 2),
            L.Conv2D(32, (3, 3), activation=relu),
            L.MaxPooling2D(2, 2),
            L.Flatten(),
            L.Dense(128, activation=relu),
            L.Dense(10, activation=softmax),
        ]
    )


def _course_idiom(relu, softmax):  # C1_W3: input_shape= on the first layer, MaxPooling2D(2, 2)
    L = tf.keras.layers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = L.Conv2D(32, (3, 3), activation=relu, input_shape=(28, 28, 1))
    return tf.keras.models.Sequential(
        [
            first,
            L.MaxPooling2D(2, 2),
            L.Conv2D(32, (3, 3), activation=relu),
            L.MaxPooling2D(2, 2),
            L.Flatten(),
            L.Dense(128, activation=relu),
            L.Dense(10, activation=softmax),
        ]
    )


def _built_with_add(relu, softmax):
    L = keras.layers
    model = keras.Sequential()
    model.add(keras.Input(shape=(28, 28, 1)))
    for layer in (
        L.Conv2D(32, 3, activation=relu),
        L.MaxPool2D(),
        L.Conv2D(32, 3, activation=relu),
        L.MaxPool2D(pool_size=(2, 2)),
        L.Flatten(),
        L.Dense(128, activation=relu),
        L.Dense(10, activation=softmax),
    ):
        model.add(layer)
    return model


def _functional(relu, softmax):
    L = tf.keras.layers
    inputs = tf.keras.Input(shape=(28, 28, 1))
    x = L.MaxPooling2D(2)(L.Conv2D(32, (3, 3), activation=relu)(inputs))
    x = L.MaxPooling2D(2)(L.Conv2D(32, (3, 3), activation=relu)(x))
    x = L.Dense(128, activation=relu)(L.Flatten()(x))
    return tf.keras.Model(inputs=inputs, outputs=L.Dense(10, activation=softmax)(x))


def _activation_layers(relu, softmax):
    L = tf.keras.layers
    return sequential_layers(
        L.Conv2D(32, 3),
        L.Activation(relu),
        L.MaxPooling2D(2),
        L.Conv2D(32, 3),
        L.ReLU(),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(128),
        L.Activation(relu),
        L.Dense(10),
        L.Activation(softmax),
    )


def sequential_layers(*layers):
    return tf.keras.Sequential([tf.keras.Input(shape=(28, 28, 1)), *layers])


MODELS = {
    "sequential_tf_keras": sequential,
    "sequential_keras": lambda r, s: sequential(r, s, ns=keras),
    "course_input_shape_idiom": _course_idiom,
    "built_with_add": _built_with_add,
    "functional_api": _functional,
    "separate_activation_layers": _activation_layers,
}
