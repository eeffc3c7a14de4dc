print("code-eval")
