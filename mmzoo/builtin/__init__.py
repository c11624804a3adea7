"""The built-in plugins: registered through mmzoo's own `mmzoo` entry points, like any
third-party plugin. Each module is torch-free; `build` imports the model lazily."""
