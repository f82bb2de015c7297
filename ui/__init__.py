"""The web app's tabs (Gradio); app.py assembles them. No model code lives here."""
