print("redress-intake")
